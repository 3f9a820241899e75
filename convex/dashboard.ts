// What `gitorch dashboard --store convex` follows live: every runner's records of a period (runs with
// their journal steps and artifacts, metrics, routing decisions, budget events), as each runner
// sent them (`data`), so the dashboard computes its figures with the same Python code as
// `gitorch stats` on one machine. Read-only, and internal: only a caller with the deployment's admin or
// deploy key (gitorch's own dashboard server) may read team data.
import { v } from "convex/values";
import { internalQuery } from "./_generated/server";

// The newest runs whose journal (the timeline of steps) comes along.
const RUNS_WITH_JOURNAL = 25;

export const records = internalQuery({
  args: { since: v.number() },
  handler: async (ctx, { since }) => {
    const runs = await ctx.db
      .query("runs")
      .withIndex("by_updated", (q) => q.gte("updatedAt", since))
      .collect();
    runs.sort((a, b) => b.createdAt - a.createdAt);
    const journal = [];
    for (const run of runs.slice(0, RUNS_WITH_JOURNAL)) {
      const steps = await ctx.db
        .query("journal")
        .withIndex("by_run", (q) => q.eq("runId", run.runId))
        .collect();
      journal.push(...steps.filter((s) => s.runner === run.runner));
    }
    const artifacts = [];
    for (const run of runs) {
      const files = await ctx.db
        .query("artifacts")
        .withIndex("by_run", (q) => q.eq("runId", run.runId))
        .collect();
      artifacts.push(...files.filter((a) => a.runner === run.runner));
    }
    const metrics = await ctx.db
      .query("metrics")
      .withIndex("by_created", (q) => q.gte("createdAt", since))
      .collect();
    const decisions = await ctx.db
      .query("routing_decisions")
      .withIndex("by_created", (q) => q.gte("createdAt", since))
      .collect();
    const budgetEvents = await ctx.db
      .query("budget_events")
      .withIndex("by_created", (q) => q.gte("createdAt", since))
      .collect();
    const sent = (docs: { runner: string; data?: unknown }[]) =>
      docs.filter((d) => d.data !== undefined).map((d) => ({ runner: d.runner, data: d.data }));
    return {
      runs: sent(runs),
      journal: sent(journal),
      artifacts: sent(artifacts), // without their content: Convex keeps it apart from `data`
      metrics: sent(metrics),
      decisions: sent(decisions),
      budgetEvents: sent(budgetEvents),
    };
  },
});
