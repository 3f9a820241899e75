// The original design's functions: typed writes of plans, artifacts, metrics and routing decisions,
// review-status updates, and the queries the dashboard and agents read. Every write is an upsert
// by (runner, key) with a version, exactly like the outbox drain's `mirror:push`.
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { internalMutation, internalQuery, type QueryCtx } from "./_generated/server";
import { upsert } from "./records";
import {
  artifactsFields,
  metricsFields,
  plansFields,
  routingDecisionsFields,
} from "./schema";

const envelope = { key: v.string(), version: v.number(), runner: v.string() };
const outcome = v.union(v.literal("inserted"), v.literal("updated"), v.literal("duplicate"), v.literal("stale"));
const DAY_MS = 86_400_000;
const ACTIVE_MS = 10 * 60_000;

function split<T extends { key: string; version: number; runner: string }>(args: T) {
  const { key, version, runner, ...fields } = args;
  return { envelope: { key, version, runner }, fields };
}

// -- writes --------------------------------------------------------------------------------------

export const writePlan = internalMutation({
  args: { ...envelope, ...plansFields },
  returns: outcome,
  handler: async (ctx, args) => {
    const { envelope, fields } = split(args);
    return await upsert(ctx, "plans", envelope, fields);
  },
});

export const writeArtifact = internalMutation({
  args: { ...envelope, ...artifactsFields },
  returns: outcome,
  handler: async (ctx, args) => {
    const { envelope, fields } = split(args);
    return await upsert(ctx, "artifacts", envelope, fields);
  },
});

export const recordMetric = internalMutation({
  args: { ...envelope, ...metricsFields },
  returns: outcome,
  handler: async (ctx, args) => {
    const { envelope, fields } = split(args);
    return await upsert(ctx, "metrics", envelope, fields);
  },
});

export const recordRoutingDecision = internalMutation({
  args: { ...envelope, ...routingDecisionsFields },
  returns: outcome,
  handler: async (ctx, args) => {
    const { envelope, fields } = split(args);
    return await upsert(ctx, "routing_decisions", envelope, fields);
  },
});

/** The review's verdict on one artifact. `version` must be newer than the artifact's. */
export const updateReviewStatus = internalMutation({
  args: {
    ...envelope,
    reviewStatus: artifactsFields.reviewStatus,
    notes: v.optional(v.string()),
  },
  returns: outcome,
  handler: async (ctx, { key, version, runner, reviewStatus, notes }) => {
    const existing = await ctx.db
      .query("artifacts")
      .withIndex("by_key", (q) => q.eq("runner", runner).eq("key", key))
      .unique();
    if (existing === null) throw new Error(`no artifact '${key}' from runner '${runner}'`);
    if (version <= existing.version) return version === existing.version ? "duplicate" : "stale";
    await ctx.db.patch(existing._id, {
      version,
      reviewStatus,
      notes: notes ?? existing.notes,
      updatedAt: Date.now(),
      syncedAt: Date.now(),
    });
    return "updated";
  },
});

// -- reads ---------------------------------------------------------------------------------------

/** The newest plan of a run; without a run, the newest plan of any run still going. */
export const getActivePlan = internalQuery({
  args: { runId: v.optional(v.string()) },
  handler: async (ctx, { runId }) => {
    if (runId !== undefined) {
      return await ctx.db
        .query("plans")
        .withIndex("by_run", (q) => q.eq("runId", runId))
        .order("desc")
        .first();
    }
    for await (const plan of ctx.db.query("plans").withIndex("by_created").order("desc")) {
      const run = plan.runId
        ? await ctx.db.query("runs").withIndex("by_run", (q) => q.eq("runId", plan.runId!)).first()
        : null;
      if (run === null || !["done", "failed", "cancelled"].includes(run.status)) return plan;
    }
    return null;
  },
});

/** Artifacts waiting for review, oldest first (of one run, or all). */
export const getPendingArtifacts = internalQuery({
  args: { runId: v.optional(v.string()), limit: v.optional(v.number()) },
  handler: async (ctx, { runId, limit }) => {
    const pending = ctx.db
      .query("artifacts")
      .withIndex("by_review_status", (q) => q.eq("reviewStatus", "pending"));
    const rows = runId === undefined ? await pending.take(limit ?? 100) : await pending.collect();
    const chosen = runId === undefined ? rows : rows.filter((a) => a.runId === runId).slice(0, limit ?? 100);
    return chosen.map(({ content: _content, data: _data, ...rest }) => rest);
  },
});

type Totals = {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens: number;
  cacheReadTokens: number;
  costUsd: number;
  baselineCostUsd: number;
  savingUsd: number;
  fallbacks: number;
};

function emptyTotals(): Totals {
  return {
    calls: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheWriteTokens: 0,
    cacheReadTokens: 0,
    costUsd: 0,
    baselineCostUsd: 0,
    savingUsd: 0,
    fallbacks: 0,
  };
}

function add(t: Totals, m: Doc<"metrics">): void {
  t.calls += 1;
  t.inputTokens += m.inputTokens;
  t.outputTokens += m.outputTokens;
  t.cacheWriteTokens += m.cacheWriteTokens;
  t.cacheReadTokens += m.cacheReadTokens;
  t.costUsd += m.costUsd;
  t.baselineCostUsd += m.baselineCostUsd;
  t.savingUsd += m.baselineCostUsd - m.costUsd;
  t.fallbacks += m.fallback ? 1 : 0;
}

function summarise(metrics: Doc<"metrics">[]) {
  const total = emptyTotals();
  const byAgent: Record<string, Totals> = {};
  for (const m of metrics) {
    add(total, m);
    add((byAgent[m.agent] ??= emptyTotals()), m);
  }
  return { total, byAgent };
}

async function metricsSince(ctx: QueryCtx, since: number) {
  return await ctx.db
    .query("metrics")
    .withIndex("by_created", (q) => q.gte("createdAt", since))
    .collect();
}

/** Tokens and cost of one run, in all and per agent. */
export const getSessionMetrics = internalQuery({
  args: { runId: v.string() },
  handler: async (ctx, { runId }) => {
    const metrics = await ctx.db
      .query("metrics")
      .withIndex("by_run", (q) => q.eq("runId", runId))
      .collect();
    return { runId, ...summarise(metrics) };
  },
});

/** gitorch processes seen in the last ten minutes (or since `since`), with the run each is on. */
export const getActiveSessions = internalQuery({
  args: { since: v.optional(v.number()) },
  handler: async (ctx, { since }) => {
    const from = since ?? Date.now() - ACTIVE_MS;
    const sessions = await ctx.db
      .query("sessions")
      .withIndex("by_last_seen", (q) => q.gte("lastSeenAt", from))
      .order("desc")
      .collect();
    const out = [];
    for (const s of sessions) {
      if (s.status !== "active") continue;
      const run = s.runId
        ? await ctx.db.query("runs").withIndex("by_run", (q) => q.eq("runId", s.runId!)).first()
        : null;
      out.push({
        runner: s.runner,
        session: s.key,
        host: s.host,
        startedAt: s.startedAt,
        lastSeenAt: s.lastSeenAt,
        pending: s.pending,
        run: run && { runId: run.runId, status: run.status, text: run.text, repo: run.repo },
      });
    }
    return out;
  },
});

/** Today's (UTC, or from `dayStart`) calls, tokens, cost and saving, in all and per agent. */
export const getTodayMetrics = internalQuery({
  args: { dayStart: v.optional(v.number()) },
  handler: async (ctx, { dayStart }) => {
    const start = dayStart ?? Math.floor(Date.now() / DAY_MS) * DAY_MS;
    return { dayStart: start, ...summarise(await metricsSince(ctx, start)) };
  },
});

/** How the router did over the last `days`: suggestions per agent, overrides, accuracy. */
export const getRoutingStats = internalQuery({
  args: { days: v.optional(v.number()) },
  handler: async (ctx, { days }) => {
    const since = Date.now() - (days ?? 30) * DAY_MS;
    const decisions = await ctx.db
      .query("routing_decisions")
      .withIndex("by_created", (q) => q.gte("createdAt", since))
      .collect();
    const byAgent: Record<string, number> = {};
    const byTaskType: Record<string, number> = {};
    let overridden = 0;
    let judged = 0;
    let correct = 0;
    let successes = 0;
    let outcomes = 0;
    for (const d of decisions) {
      byAgent[d.agent] = (byAgent[d.agent] ?? 0) + 1;
      byTaskType[d.taskType] = (byTaskType[d.taskType] ?? 0) + 1;
      const wasOverridden = d.overrideAgent !== undefined && d.overrideAgent !== d.agent;
      if (wasOverridden) overridden += 1;
      if (d.outcome !== undefined) {
        outcomes += 1;
        if (d.outcome === "success") successes += 1;
      }
      // A suggestion counts as right when nobody overrode it and its work did not fail.
      if (d.overrideAgent !== undefined || d.outcome !== undefined) {
        judged += 1;
        if (!wasOverridden && d.outcome !== "failure") correct += 1;
      }
    }
    return {
      days: days ?? 30,
      decisions: decisions.length,
      byAgent,
      byTaskType,
      overridden,
      judged,
      accuracy: judged === 0 ? null : correct / judged,
      successRate: outcomes === 0 ? null : successes / outcomes,
    };
  },
});

/** Spending over the last `days`: per agent and per day, and the saving against Claude alone. */
export const getCostAnalysis = internalQuery({
  args: { days: v.optional(v.number()) },
  handler: async (ctx, { days }) => {
    const since = Date.now() - (days ?? 30) * DAY_MS;
    const metrics = await metricsSince(ctx, since);
    const perDay: Record<string, { costUsd: number; baselineCostUsd: number }> = {};
    for (const m of metrics) {
      const day = new Date(m.createdAt).toISOString().slice(0, 10);
      const entry = (perDay[day] ??= { costUsd: 0, baselineCostUsd: 0 });
      entry.costUsd += m.costUsd;
      entry.baselineCostUsd += m.baselineCostUsd;
    }
    const { total, byAgent } = summarise(metrics);
    return {
      days: days ?? 30,
      total,
      byAgent,
      perDay,
      savingPct: total.baselineCostUsd === 0 ? 0 : (100 * total.savingUsd) / total.baselineCostUsd,
    };
  },
});
