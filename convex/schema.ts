// The team mirror of gitorch's SQLite store.
//
// Every table carries the same envelope: `key` (the client-side key of the record, stable across
// retries), `version` (grows with every change of that record on the machine that wrote it),
// `runner` (who wrote it) and `syncedAt` (when Convex last accepted it). Records are upserted
// through the `by_key` index on (runner, key): a record delivered twice is stored once, a newer
// version replaces an older one and never the reverse, and two runners never overwrite each other.
// `data` keeps the whole record as the runner sent it; the typed fields beside it are what the
// queries filter and sum on.
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

const envelope = {
  key: v.string(),
  version: v.number(),
  runner: v.string(),
  syncedAt: v.number(),
  data: v.optional(v.any()),
};

export const taskValidator = v.object({
  id: v.string(),
  description: v.string(),
  files: v.array(v.string()),
  assignedTo: v.string(),
  dependsOn: v.array(v.string()),
  estimatedLines: v.number(),
  taskType: v.string(),
  status: v.string(),
});

export const sessionsFields = {
  host: v.string(),
  startedAt: v.number(),
  lastSeenAt: v.number(),
  status: v.union(v.literal("active"), v.literal("stopped")),
  runId: v.optional(v.string()),
  pending: v.number(),
};

export const runsFields = {
  runId: v.string(),
  repo: v.string(),
  text: v.string(),
  trigger: v.string(),
  status: v.string(),
  branch: v.optional(v.string()),
  prNumber: v.optional(v.number()),
  issueNumber: v.optional(v.number()),
  verdict: v.optional(v.string()),
  rounds: v.number(),
  // a paused run's wait: when any runner of the team may continue it
  resumeAfter: v.optional(v.number()),
  createdAt: v.number(),
  updatedAt: v.number(),
};

export const journalFields = {
  runId: v.string(),
  step: v.string(),
  status: v.union(v.literal("started"), v.literal("finished")),
  updatedAt: v.number(),
};

export const plansFields = {
  planId: v.string(),
  runId: v.optional(v.string()),
  summary: v.string(),
  tasks: v.array(taskValidator),
  createdAt: v.number(),
};

export const artifactsFields = {
  artifactId: v.string(),
  runId: v.optional(v.string()),
  taskId: v.string(),
  path: v.string(),
  agent: v.string(),
  content: v.union(v.string(), v.null()),
  reviewStatus: v.union(v.literal("pending"), v.literal("approved"), v.literal("rejected")),
  notes: v.string(),
  updatedAt: v.number(),
};

export const reviewsFields = {
  runId: v.string(),
  verdict: v.string(),
  summary: v.string(),
  round: v.number(),
  createdAt: v.number(),
};

export const metricsFields = {
  runId: v.optional(v.string()),
  agent: v.string(),
  model: v.string(),
  taskType: v.optional(v.string()),
  step: v.optional(v.string()),
  inputTokens: v.number(),
  outputTokens: v.number(),
  cacheWriteTokens: v.number(),
  cacheReadTokens: v.number(),
  costUsd: v.number(),
  baselineCostUsd: v.number(),
  durationS: v.number(),
  fallback: v.boolean(),
  createdAt: v.number(),
  // Why the call used its model (the architect's ladder); absent for builders and older rows.
  reason: v.optional(v.string()),
};

export const routingDecisionsFields = {
  decisionId: v.string(),
  repo: v.string(),
  text: v.string(),
  taskType: v.string(),
  agent: v.string(),
  confidence: v.number(),
  scores: v.record(v.string(), v.number()),
  strategy: v.string(),
  // what each shadow strategy (routing.shadow) would have suggested, by strategy name
  shadows: v.optional(
    v.record(v.string(), v.object({ agent: v.string(), taskType: v.string(), confidence: v.number() })),
  ),
  manual: v.boolean(),
  estimatedCostUsd: v.number(),
  estimatedSavingUsd: v.number(),
  runId: v.optional(v.string()),
  overrideAgent: v.optional(v.string()),
  overrideTaskType: v.optional(v.string()),
  agentUsed: v.optional(v.string()),
  outcome: v.optional(v.string()),
  feedbackAt: v.optional(v.number()),
  createdAt: v.number(),
};

export const budgetEventsFields = {
  kind: v.string(),
  scope: v.string(),
  message: v.string(),
  runId: v.optional(v.string()),
  createdAt: v.number(),
};

export const routerStateFields = {
  repo: v.string(),
  state: v.string(),
  updatedAt: v.number(),
};

export const claimsFields = {
  runId: v.string(),
  host: v.string(),
  pid: v.number(),
  token: v.string(),
  holderRunner: v.string(),
  since: v.number(),
  expiresAt: v.number(),
};

export const reservationsFields = {
  reservationId: v.string(),
  runId: v.optional(v.string()),
  model: v.string(),
  usd: v.number(),
  holderRunner: v.string(),
  createdAt: v.number(),
  expiresAt: v.number(),
};

export const spendFields = {
  reservationId: v.string(),
  runId: v.optional(v.string()),
  usd: v.number(),
  totals: v.array(v.string()),
  createdAt: v.number(),
};

export default defineSchema({
  // A gitorch process on a runner, seen by its heartbeats (the original design's sessions).
  sessions: defineTable({ ...envelope, ...sessionsFields })
    .index("by_key", ["runner", "key"])
    .index("by_last_seen", ["lastSeenAt"]),

  // One gitorch run: the task, its trigger, where it stands, its branch and pull request.
  runs: defineTable({ ...envelope, ...runsFields })
    .index("by_key", ["runner", "key"])
    .index("by_run", ["runId"])
    .index("by_status", ["status", "updatedAt"])
    .index("by_updated", ["updatedAt"]),

  // A run's journal: one row per step, started and then finished with its result.
  journal: defineTable({ ...envelope, ...journalFields })
    .index("by_key", ["runner", "key"])
    .index("by_run", ["runId", "updatedAt"]),

  // The architect's plans, with their tasks.
  plans: defineTable({ ...envelope, ...plansFields })
    .index("by_key", ["runner", "key"])
    .index("by_run", ["runId", "createdAt"])
    .index("by_created", ["createdAt"]),

  // Files the builder produced, with the review's status and notes for each.
  artifacts: defineTable({ ...envelope, ...artifactsFields })
    .index("by_key", ["runner", "key"])
    .index("by_review_status", ["reviewStatus", "updatedAt"])
    .index("by_run", ["runId"]),

  // The architect's reviews, one per round.
  reviews: defineTable({ ...envelope, ...reviewsFields })
    .index("by_key", ["runner", "key"])
    .index("by_run", ["runId", "round"]),

  // One agent call: tokens, what it cost and what Claude alone would have cost.
  metrics: defineTable({ ...envelope, ...metricsFields })
    .index("by_key", ["runner", "key"])
    .index("by_run", ["runId"])
    .index("by_created", ["createdAt"]),

  // What the router suggested for a text, and what happened afterwards: a person's override and
  // the outcome of the work arrive as newer versions of the same decision.
  routing_decisions: defineTable({ ...envelope, ...routingDecisionsFields })
    .index("by_key", ["runner", "key"])
    .index("by_decision", ["decisionId"])
    .index("by_created", ["createdAt"])
    .index("by_feedback", ["repo", "feedbackAt"]),

  // The router's learned state per repository (base64), so a new runner starts from the team's.
  router_state: defineTable({ ...envelope, ...routerStateFields }).index("by_key", ["runner", "key"]),

  // Who drives each run: one claim per run, with an expiry its holder keeps pushing back.
  claims: defineTable(claimsFields).index("by_run", ["runId"]),

  // Paid calls in flight: their estimate counts against the team's limits until they settle.
  reservations: defineTable(reservationsFields)
    .index("by_reservation", ["reservationId"])
    .index("by_run", ["runId"])
    .index("by_expires", ["expiresAt"]),

  // What each paid call really cost, once (by its reservation), mirrored from the runner that made it.
  spend: defineTable({ ...envelope, ...spendFields })
    .index("by_key", ["runner", "key"])
    .index("by_reservation", ["reservationId"]),

  // The team's spending per month, day and run ("month:2026-12", "day:2026-12-02", "run:<id>").
  spend_totals: defineTable({ total: v.string(), usd: v.number() }).index("by_total", ["total"]),

  // Budget alerts the team has said once ("alert:month:2026-12:$50:80%"), whichever runner said it.
  team_alerts: defineTable({ key: v.string(), runner: v.string(), at: v.number() }).index("by_key", ["key"]),

  // Budget alerts and refusals.
  budget_events: defineTable({ ...envelope, ...budgetEventsFields })
    .index("by_key", ["runner", "key"])
    .index("by_created", ["createdAt"]),
});
