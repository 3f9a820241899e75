// How a record from a runner's outbox becomes a document: the one upsert every mutation uses, and
// the mapping from the runner's plain JSON (snake_case, as gitorch's SQLite store writes it) to the
// typed fields the queries use.
import type { GenericMutationCtx } from "convex/server";
import type { DataModel, TableNames } from "./_generated/dataModel";

// Bump when a function's arguments or results change; `gitorch doctor` compares it with the
// version the Python package expects, so a deployment running older functions is caught.
export const FUNCTIONS_VERSION = 3;

export type Envelope = { key: string; version: number; runner: string };
export type Outcome = "inserted" | "updated" | "duplicate" | "stale";
export type MirroredTable = Exclude<TableNames, "sessions" | "claims" | "reservations" | "spend_totals" | "team_alerts">;

export const MIRRORED_TABLES: MirroredTable[] = [
  "runs",
  "journal",
  "plans",
  "artifacts",
  "reviews",
  "metrics",
  "routing_decisions",
  "router_state",
  "budget_events",
  "spend",
];

/** Insert, or replace when `version` is newer; an equal version is a duplicate, an older one stale. */
export async function upsert(
  ctx: GenericMutationCtx<DataModel>,
  table: MirroredTable | "sessions",
  envelope: Envelope,
  fields: Record<string, unknown>,
  data?: unknown,
): Promise<Outcome> {
  if (!envelope.key) throw new Error(`${table}: a record needs a non-empty key`);
  if (!envelope.runner) throw new Error(`${table}: record ${envelope.key} needs a runner`);
  const existing = await ctx.db
    .query(table)
    .withIndex("by_key", (q: any) => q.eq("runner", envelope.runner).eq("key", envelope.key))
    .unique();
  const doc: any = { ...fields, ...envelope, syncedAt: Date.now() };
  if (data !== undefined) doc.data = data;
  if (existing === null) {
    await ctx.db.insert(table, doc);
    return "inserted";
  }
  if (envelope.version > existing.version) {
    await ctx.db.replace(existing._id, doc);
    return "updated";
  }
  return envelope.version === existing.version ? "duplicate" : "stale";
}

// -- from the runner's JSON ------------------------------------------------------------------------

type Json = Record<string, any>;

function pick(p: Json, ...names: string[]): any {
  for (const name of names) {
    if (p[name] !== undefined && p[name] !== null) return p[name];
  }
  return undefined;
}

function str(p: Json, ...names: string[]): string {
  const value = pick(p, ...names);
  return value === undefined ? "" : String(value);
}

function optStr(p: Json, ...names: string[]): string | undefined {
  const value = pick(p, ...names);
  return value === undefined ? undefined : String(value);
}

function num(p: Json, ...names: string[]): number {
  const value = pick(p, ...names);
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`field ${names[0]} is not a number: ${JSON.stringify(value)}`);
  return n;
}

function optNum(p: Json, ...names: string[]): number | undefined {
  return pick(p, ...names) === undefined ? undefined : num(p, ...names);
}

/** Milliseconds since the epoch from an ISO date (Python's isoformat or str()), seconds or ms. */
export function toMs(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === "") return fallback;
  if (typeof value === "number") return value < 1e11 ? value * 1000 : value;
  const text = String(value).replace(" ", "T").replace(/(\.\d{3})\d+/, "$1");
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`not a date: ${JSON.stringify(value)}`);
  return ms;
}

function time(p: Json, now: number, ...names: string[]): number {
  return toMs(pick(p, ...names), now);
}

function optTime(p: Json, ...names: string[]): number | undefined {
  const value = pick(p, ...names);
  return value === undefined || value === "" ? undefined : toMs(value, 0);
}

function task(t: Json) {
  return {
    id: str(t, "id"),
    description: str(t, "description"),
    files: (pick(t, "files") ?? []).map(String),
    assignedTo: str(t, "assigned_to", "assignedTo"),
    dependsOn: (pick(t, "depends_on", "dependsOn") ?? []).map(String),
    estimatedLines: num(t, "estimated_lines", "estimatedLines"),
    taskType: str(t, "task_type", "taskType") || "code_generation",
    status: str(t, "status") || "pending",
  };
}

/** The shadow strategies' suggestions of a decision: name -> agent, task type, confidence. */
function shadows(value: unknown): Record<string, { agent: string; taskType: string; confidence: number }> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw new Error("field shadows is not an object");
  const out: Record<string, { agent: string; taskType: string; confidence: number }> = {};
  for (const [name, s] of Object.entries(value as Json)) {
    if (typeof s !== "object" || s === null) throw new Error(`shadow ${name} is not an object`);
    out[name] = { agent: str(s, "agent"), taskType: str(s, "task_type", "taskType"), confidence: num(s, "confidence") };
  }
  return Object.keys(out).length ? out : undefined;
}

function scores(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries((value as Json) ?? {})) out[k] = Number(n);
  return out;
}

/** The typed fields of a document of `table`, from the record the runner sent. */
export function fieldsFromPayload(table: MirroredTable, p: Json, now: number): Record<string, unknown> {
  switch (table) {
    case "runs":
      return {
        runId: str(p, "id", "run_id", "runId"),
        repo: str(p, "repo"),
        text: str(p, "text"),
        trigger: str(p, "trigger") || "cli",
        status: str(p, "status") || "started",
        branch: optStr(p, "branch"),
        prNumber: optNum(p, "pr_number", "prNumber"),
        issueNumber: optNum(p, "issue_number", "issueNumber"),
        verdict: optStr(p, "verdict"),
        rounds: num(p, "rounds"),
        resumeAfter: optTime(p, "resume_after", "resumeAfter"),
        createdAt: time(p, now, "created_at", "createdAt"),
        updatedAt: time(p, now, "updated_at", "updatedAt", "created_at"),
      };
    case "journal":
      return {
        runId: str(p, "run_id", "runId"),
        step: str(p, "key", "step"),
        status: p.status === "finished" || pick(p, "finished_at") !== undefined ? "finished" : "started",
        updatedAt: time(p, now, "finished_at", "updated_at", "started_at", "created_at"),
      };
    case "plans":
      return {
        planId: str(p, "id", "plan_id", "planId"),
        runId: optStr(p, "run_id", "runId"),
        summary: str(p, "summary"),
        tasks: (pick(p, "tasks") ?? []).map(task),
        createdAt: time(p, now, "created_at", "createdAt"),
      };
    case "artifacts":
      return {
        artifactId: str(p, "id", "artifact_id", "artifactId"),
        runId: optStr(p, "run_id", "runId"),
        taskId: str(p, "task_id", "taskId"),
        path: str(p, "path"),
        agent: str(p, "agent"),
        content: p.content ?? null,
        reviewStatus: str(p, "review_status", "reviewStatus") || "pending",
        notes: str(p, "notes"),
        updatedAt: time(p, now, "updated_at", "created_at"),
      };
    case "reviews":
      return {
        runId: str(p, "run_id", "runId"),
        verdict: str(p, "verdict"),
        summary: str(p, "summary"),
        round: num(p, "round") || 1,
        createdAt: time(p, now, "created_at", "createdAt"),
      };
    case "metrics": {
      const usage: Json = pick(p, "usage") ?? p;
      return {
        runId: optStr(p, "run_id", "runId"),
        agent: str(p, "agent"),
        model: str(p, "model"),
        taskType: optStr(p, "task_type", "taskType"),
        step: optStr(p, "step"),
        inputTokens: num(usage, "input_tokens", "inputTokens"),
        outputTokens: num(usage, "output_tokens", "outputTokens"),
        cacheWriteTokens: num(usage, "cache_creation_input_tokens", "cacheWriteTokens"),
        cacheReadTokens: num(usage, "cache_read_input_tokens", "cacheReadTokens"),
        costUsd: num(p, "cost_usd", "costUsd"),
        baselineCostUsd: num(p, "baseline_cost_usd", "baselineCostUsd"),
        durationS: num(p, "duration_s", "durationS"),
        fallback: Boolean(pick(p, "fallback")),
        createdAt: time(p, now, "created_at", "createdAt"),
        reason: optStr(p, "reason"),
      };
    }
    case "routing_decisions":
      return {
        decisionId: str(p, "decision_id", "id", "decisionId"),
        repo: str(p, "repo"),
        text: str(p, "text"),
        taskType: str(p, "task_type", "taskType"),
        agent: str(p, "agent"),
        confidence: num(p, "confidence"),
        scores: scores(pick(p, "scores")),
        strategy: str(p, "strategy") || "learned",
        shadows: shadows(pick(p, "shadows")),
        manual: Boolean(pick(p, "manual")),
        estimatedCostUsd: num(p, "estimated_cost_usd", "estimatedCostUsd"),
        estimatedSavingUsd: num(p, "estimated_saving_usd", "estimatedSavingUsd"),
        runId: optStr(p, "run_id", "runId"),
        overrideAgent: optStr(p, "override_agent", "overrideAgent"),
        overrideTaskType: optStr(p, "override_task_type", "overrideTaskType"),
        agentUsed: optStr(p, "agent_used", "agentUsed"),
        outcome: optStr(p, "outcome"),
        feedbackAt: pick(p, "feedback_at", "feedbackAt") === undefined ? undefined : time(p, now, "feedback_at", "feedbackAt"),
        createdAt: time(p, now, "created_at", "createdAt"),
      };
    case "router_state":
      return {
        repo: str(p, "repo"),
        state: str(p, "state"),
        updatedAt: time(p, now, "updated_at", "updatedAt"),
      };
    case "spend":
      return {
        reservationId: str(p, "reservation_id", "reservationId"),
        runId: optStr(p, "run_id", "runId"),
        usd: num(p, "usd"),
        totals: (pick(p, "totals") ?? []).map(String),
        createdAt: time(p, now, "created_at", "createdAt"),
      };
    case "budget_events":
      return {
        kind: str(p, "kind"),
        scope: str(p, "scope"),
        message: str(p, "message"),
        runId: optStr(p, "run_id", "runId"),
        createdAt: time(p, now, "created_at", "createdAt"),
      };
  }
}

/** What is kept in `data`: the record as sent, less the big fields stored once, typed. */
export function dataFromPayload(table: MirroredTable, p: Json): Json {
  if (table === "artifacts") {
    const { content: _content, ...rest } = p;
    return rest;
  }
  if (table === "router_state") {
    const { state: _state, ...rest } = p;
    return rest;
  }
  return p;
}
