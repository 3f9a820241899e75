// What makes several runners one team: who drives each run (a claim with an expiry), the paid calls
// in flight (reservations held against the team's limits) and what they really cost (spend, with a
// running total per month, day and run). Every function here is internal: only a caller with the
// deployment's admin or deploy key (a gitorch runner) may call it. Each mutation is one Convex
// transaction, so two runners claiming one run, or reserving the last dollar of a month, at the same
// moment, are serialised: one gets it, the other is told who has it.
import { v } from "convex/values";
import type { MutationCtx } from "./_generated/server";
import { internalMutation, internalQuery } from "./_generated/server";

const holder = v.object({
  host: v.string(),
  pid: v.number(),
  token: v.string(),
  runner: v.string(),
  since: v.optional(v.number()),
  expiresAt: v.optional(v.number()),
});

function asHolder(doc: { host: string; pid: number; token: string; holderRunner: string; since: number; expiresAt: number }) {
  return { host: doc.host, pid: doc.pid, token: doc.token, runner: doc.holderRunner, since: doc.since, expiresAt: doc.expiresAt };
}

async function claimOf(ctx: MutationCtx, runId: string) {
  return await ctx.db
    .query("claims")
    .withIndex("by_run", (q) => q.eq("runId", runId))
    .unique();
}

/**
 * Take the claim on a run for `leaseMs` (or keep it, for its holder): returns who holds it now.
 * `takeOver` names a holder its own machine knows is dead, whose claim is taken at once.
 */
export const claim = internalMutation({
  args: { runId: v.string(), holder, leaseMs: v.number(), takeOver: v.optional(v.string()) },
  returns: holder,
  handler: async (ctx, { runId, holder, leaseMs, takeOver }) => {
    const now = Date.now();
    const current = await claimOf(ctx, runId);
    const dead = takeOver !== undefined && current !== null && current.token === takeOver;
    if (current !== null && current.token !== holder.token && current.expiresAt > now && !dead) {
      return asHolder(current);
    }
    const since = current !== null && current.token === holder.token ? current.since : now;
    const doc = {
      runId,
      host: holder.host,
      pid: holder.pid,
      token: holder.token,
      holderRunner: holder.runner,
      since,
      expiresAt: now + leaseMs,
    };
    if (current === null) await ctx.db.insert("claims", doc);
    else await ctx.db.replace(current._id, doc);
    return asHolder(doc);
  },
});

/** Push the claim's expiry back; false when the claim is no longer this holder's. */
export const renew = internalMutation({
  args: { runId: v.string(), token: v.string(), leaseMs: v.number() },
  returns: v.boolean(),
  handler: async (ctx, { runId, token, leaseMs }) => {
    const current = await claimOf(ctx, runId);
    if (current === null || current.token !== token) return false;
    await ctx.db.patch(current._id, { expiresAt: Date.now() + leaseMs });
    return true;
  },
});

/** Give the claim up (only its holder can). */
export const releaseClaim = internalMutation({
  args: { runId: v.string(), token: v.string() },
  returns: v.null(),
  handler: async (ctx, { runId, token }) => {
    const current = await claimOf(ctx, runId);
    if (current !== null && current.token === token) await ctx.db.delete(current._id);
    return null;
  },
});

const window = v.object({ scope: v.string(), limitUsd: v.number(), total: v.string(), runId: v.optional(v.string()) });

async function totalOf(ctx: MutationCtx, total: string) {
  return await ctx.db
    .query("spend_totals")
    .withIndex("by_total", (q) => q.eq("total", total))
    .unique();
}

/**
 * Hold a paid call's estimate against every window at once: granted only when each window's spending,
 * what the calls in flight hold, and this call stay within its limit. Reservations past their expiry
 * (a crashed runner's) are cleared first. Returns what was committed per window before this call.
 */
export const reserve = internalMutation({
  args: {
    reservationId: v.string(),
    runId: v.optional(v.string()),
    model: v.string(),
    usd: v.number(),
    runner: v.string(),
    expiresInMs: v.number(),
    windows: v.array(window),
  },
  returns: v.object({ granted: v.boolean(), committedUsd: v.array(v.number()) }),
  handler: async (ctx, args) => {
    const now = Date.now();
    for (const stale of await ctx.db
      .query("reservations")
      .withIndex("by_expires", (q) => q.lte("expiresAt", now))
      .collect()) {
      await ctx.db.delete(stale._id);
    }
    const held = await ctx.db.query("reservations").collect();
    const committedUsd: number[] = [];
    for (const w of args.windows) {
      const spent = (await totalOf(ctx, w.total))?.usd ?? 0;
      const inFlight = held.filter((r) => w.runId === undefined || r.runId === w.runId).reduce((s, r) => s + r.usd, 0);
      committedUsd.push(spent + inFlight);
    }
    const granted = args.windows.every((w, i) => committedUsd[i] + args.usd <= w.limitUsd + 1e-9);
    if (granted) {
      await ctx.db.insert("reservations", {
        reservationId: args.reservationId,
        runId: args.runId,
        model: args.model,
        usd: args.usd,
        holderRunner: args.runner,
        createdAt: now,
        expiresAt: now + args.expiresInMs,
      });
    }
    return { granted, committedUsd };
  },
});

/** A call that was not made, or failed without an answer: its reservation no longer counts. */
export const release = internalMutation({
  args: { reservationId: v.string() },
  returns: v.null(),
  handler: async (ctx, { reservationId }) => {
    const found = await ctx.db
      .query("reservations")
      .withIndex("by_reservation", (q) => q.eq("reservationId", reservationId))
      .unique();
    if (found !== null) await ctx.db.delete(found._id);
    return null;
  },
});

/**
 * A paid call's real cost, as the runner's outbox delivers it (the `spend` mirror): counted once in its
 * totals, and its reservation gone. Called by mirror:push for every new spend record.
 */
export async function settleSpend(
  ctx: MutationCtx,
  spend: { reservationId: string; usd: number; totals: string[] },
): Promise<void> {
  const reservation = await ctx.db
    .query("reservations")
    .withIndex("by_reservation", (q) => q.eq("reservationId", spend.reservationId))
    .unique();
  if (reservation !== null) await ctx.db.delete(reservation._id);
  for (const total of spend.totals) {
    const current = await totalOf(ctx, total);
    if (current === null) await ctx.db.insert("spend_totals", { total, usd: spend.usd });
    else await ctx.db.patch(current._id, { usd: current.usd + spend.usd });
  }
}

/** What the team has spent in these totals, and what its calls in flight hold now (for reports). */
export const totals = internalQuery({
  args: { totals: v.array(v.string()) },
  returns: v.object({ spent: v.array(v.number()), heldUsd: v.number() }),
  handler: async (ctx, args) => {
    const now = Date.now();
    const spent: number[] = [];
    for (const total of args.totals) {
      const found = await ctx.db
        .query("spend_totals")
        .withIndex("by_total", (q) => q.eq("total", total))
        .unique();
      spent.push(found?.usd ?? 0);
    }
    const held = (await ctx.db.query("reservations").collect()).filter((r) => r.expiresAt > now);
    return { spent, heldUsd: held.reduce((s, r) => s + r.usd, 0) };
  },
});

/**
 * Whether a budget alert (`key`: kind, scope, period and threshold) is the team's first: true once,
 * for the runner that says it first, so the team's month alert reaches its webhook once however many
 * runners pass the threshold.
 */
export const firstAlert = internalMutation({
  args: { key: v.string(), runner: v.string() },
  returns: v.boolean(),
  handler: async (ctx, { key, runner }) => {
    const said = await ctx.db
      .query("team_alerts")
      .withIndex("by_key", (q) => q.eq("key", key))
      .unique();
    if (said !== null) return false;
    await ctx.db.insert("team_alerts", { key, runner, at: Date.now() });
    return true;
  },
});

/**
 * The router's lessons another runner taught: decisions of `repo` that got feedback (an override, a type
 * correction, an outcome) after `after` (ms), from runners other than `runner`, oldest first.
 */
export const lessons = internalQuery({
  args: { repo: v.string(), after: v.number(), runner: v.string() },
  handler: async (ctx, { repo, after, runner }) => {
    const found = await ctx.db
      .query("routing_decisions")
      .withIndex("by_feedback", (q) => q.eq("repo", repo).gt("feedbackAt", after))
      .collect();
    return found
      .filter((d) => d.runner !== runner && d.data !== undefined)
      .sort((a, b) => (a.feedbackAt ?? 0) - (b.feedbackAt ?? 0))
      .map((d) => ({ feedbackAt: d.feedbackAt, data: d.data }));
  },
});

const GOING = ["started", "planning", "building", "reviewing"];

/**
 * Runs any runner of the team may continue now, the longest waiting first: paused runs whose wait is
 * over, and runs left going by a runner that died (nobody holds a live claim on them). A run counts by
 * its newest copy (the runner that drove it last).
 */
export const runsDue = internalQuery({
  args: { now: v.number() },
  returns: v.array(
    v.object({ runId: v.string(), repo: v.string(), issueNumber: v.optional(v.number()), trigger: v.string() }),
  ),
  handler: async (ctx, { now }) => {
    const candidates = [];
    for (const status of ["paused", ...GOING]) {
      candidates.push(
        ...(await ctx.db
          .query("runs")
          .withIndex("by_status", (q) => q.eq("status", status))
          .collect()),
      );
    }
    const waited = (r: { resumeAfter?: number; updatedAt: number }) => r.resumeAfter ?? r.updatedAt;
    const due = [];
    const seen = new Set<string>();
    for (const run of candidates.sort((a, b) => waited(a) - waited(b))) {
      if (seen.has(run.runId)) continue;
      seen.add(run.runId);
      const copies = await ctx.db
        .query("runs")
        .withIndex("by_run", (q) => q.eq("runId", run.runId))
        .collect();
      const newest = copies.reduce((a, b) => (b.updatedAt > a.updatedAt ? b : a));
      if (newest.status === "paused") {
        if (newest.resumeAfter === undefined || newest.resumeAfter > now) continue;
      } else if (GOING.includes(newest.status)) {
        const claim = await ctx.db
          .query("claims")
          .withIndex("by_run", (q) => q.eq("runId", run.runId))
          .unique();
        if (claim !== null && claim.expiresAt > now) continue;
      } else {
        continue;
      }
      due.push({ runId: newest.runId, repo: newest.repo, issueNumber: newest.issueNumber, trigger: newest.trigger });
    }
    return due;
  },
});
