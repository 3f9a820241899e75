/// <reference types="vite/client" />
// The Convex functions, run for real in convex-test (validation, indexes, transactions).
// Run with `npx vitest run convex`.
import { convexTest } from "convex-test";
import { describe, expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import type { Doc } from "./_generated/dataModel";
import schema from "./schema";

const modules = import.meta.glob("./**/*.*s");
const setup = () => convexTest(schema, modules);

const NOW = Date.now();
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "000+00:00"); // Python's isoformat

function metric(key: string, version: number, extra: Record<string, unknown> = {}, runner = "runner-a") {
  return {
    table: "metrics",
    key,
    version,
    runner,
    payload: {
      agent: "claude",
      model: "claude-sonnet-5-5",
      usage: { input_tokens: 1000, output_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 50 },
      cost_usd: 0.25,
      baseline_cost_usd: 0.25,
      duration_s: 3.5,
      task_type: "code_generation",
      run_id: "run-1",
      step: "plan",
      fallback: false,
      created_at: iso(NOW),
      ...extra,
    },
  };
}

async function all<T extends "metrics" | "runs" | "artifacts">(t: ReturnType<typeof setup>, table: T) {
  return (await t.run(async (ctx) => await ctx.db.query(table).collect())) as Doc<T>[];
}

describe("mirror:push", () => {
  test("a record delivered twice is stored once", async () => {
    const t = setup();
    const first = await t.mutation(internal.mirror.push, { records: [metric("m1", 1)] });
    const again = await t.mutation(internal.mirror.push, { records: [metric("m1", 1)] });
    expect(first).toEqual([{ key: "m1", outcome: "inserted" }]);
    expect(again).toEqual([{ key: "m1", outcome: "duplicate" }]);
    expect(await all(t, "metrics")).toHaveLength(1);
  });

  test("a metric keeps the model the ladder chose and why", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, {
      records: [metric("m1", 1, { model: "claude-haiku-5-5", reason: "escalated: claude-haiku-5-5 rejected" }),
        metric("m2", 1, { agent: "codex", model: "gpt-5-codex" })],
    });
    const docs = await all(t, "metrics");
    expect(docs.map((d) => [d.model, d.reason])).toEqual(
      [["claude-haiku-5-5", "escalated: claude-haiku-5-5 rejected"], ["gpt-5-codex", undefined]]);
  });

  test("a newer version replaces an older one, never the reverse", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, { records: [metric("m1", 1, { cost_usd: 1 })] });
    const newer = await t.mutation(internal.mirror.push, { records: [metric("m1", 3, { cost_usd: 3 })] });
    const older = await t.mutation(internal.mirror.push, { records: [metric("m1", 2, { cost_usd: 2 })] });
    expect(newer[0].outcome).toBe("updated");
    expect(older[0].outcome).toBe("stale");
    const [doc] = await all(t, "metrics");
    expect(doc.version).toBe(3);
    expect(doc.costUsd).toBe(3);
  });

  test("two runners with the same key never overwrite each other", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, {
      records: [metric("1", 1, { agent: "claude" }, "runner-a"), metric("1", 1, { agent: "codex" }, "runner-b")],
    });
    const docs = await all(t, "metrics");
    expect(docs.map((d) => [d.runner, d.agent]).sort()).toEqual([
      ["runner-a", "claude"],
      ["runner-b", "codex"],
    ]);
  });

  test("a bad record is rejected with its reason and the rest of the batch is stored", async () => {
    const t = setup();
    const out = await t.mutation(internal.mirror.push, {
      records: [
        metric("good", 1),
        { ...metric("bad", 1), table: "nonsense" },
        metric("late", 1, { cost_usd: "a lot" }),
        metric("when", 1, { created_at: "yesterday-ish" }),
      ],
    });
    expect(out.map((r) => r.outcome)).toEqual(["inserted", "rejected", "rejected", "rejected"]);
    expect(out[1].error).toContain("unknown table 'nonsense'");
    expect(out[2].error).toContain("cost_usd");
    expect(out[3].error).toContain("not a date");
    expect(await all(t, "metrics")).toHaveLength(1);
  });

  test("the runner's snake_case records become typed documents", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, {
      records: [
        {
          table: "runs",
          key: "run-1",
          version: 2,
          runner: "runner-a",
          payload: { id: "run-1", text: "add a flag", trigger: "issue", status: "building", repo: "o/r",
            branch: "gitorch/run-1", pr_number: 7, issue_number: null, verdict: null, rounds: 1,
            created_at: iso(NOW - 1000), updated_at: iso(NOW) },
        },
        {
          table: "artifacts",
          key: "art-1",
          version: 1,
          runner: "runner-a",
          payload: { id: "art-1", path: "src/a.py", content: "print(1)\n", task_id: "t1", agent: "chatgpt-pro",
            run_id: "run-1", review_status: "pending", notes: "", updated_at: iso(NOW) },
        },
      ],
    });
    const [run] = await all(t, "runs");
    expect(run).toMatchObject({ runId: "run-1", status: "building", prNumber: 7, rounds: 1, updatedAt: NOW });
    expect(run.issueNumber).toBeUndefined();
    const [artifact] = await all(t, "artifacts");
    expect(artifact.content).toBe("print(1)\n");
    expect(artifact.data.content).toBeUndefined(); // stored once
  });

  test("writes are refused to callers without the admin key", async () => {
    // In convex-test every caller is trusted; what matters is that push is not public.
    expect((api as any).mirror.push).toBeDefined(); // anyApi answers any name...
    const { push } = await import("./mirror");
    expect((push as any).isInternal).toBe(true); // ...but the function itself is internal
  });
});

describe("named writes (the original design's API)", () => {
  const plan = {
    key: "plan-1",
    version: 1,
    runner: "runner-a",
    planId: "plan-1",
    runId: "run-1",
    summary: "two tasks",
    tasks: [
      { id: "t1", description: "flag", files: ["a.py"], assignedTo: "chatgpt-pro", dependsOn: [],
        estimatedLines: 20, taskType: "code_generation", status: "pending" },
    ],
    createdAt: NOW,
  };

  test("writePlan is idempotent and getActivePlan returns the newest", async () => {
    const t = setup();
    expect(await t.mutation(internal.mcp.writePlan, plan)).toBe("inserted");
    expect(await t.mutation(internal.mcp.writePlan, plan)).toBe("duplicate");
    expect(await t.mutation(internal.mcp.writePlan, { ...plan, key: "plan-2", planId: "plan-2", createdAt: NOW + 1 }))
      .toBe("inserted");
    expect((await t.query(internal.mcp.getActivePlan, { runId: "run-1" }))?.planId).toBe("plan-2");
    expect((await t.query(internal.mcp.getActivePlan, {}))?.planId).toBe("plan-2");
  });

  test("writePlan refuses a task without its fields", async () => {
    const t = setup();
    await expect(t.mutation(internal.mcp.writePlan, { ...plan, tasks: [{ id: "t1" }] } as any)).rejects.toThrow(
      /description/,
    );
  });

  test("review status updates move artifacts out of the pending list", async () => {
    const t = setup();
    const artifact = { key: "a1", version: 1, runner: "r", artifactId: "a1", runId: "run-1", taskId: "t1",
      path: "a.py", agent: "chatgpt-pro", content: "x", reviewStatus: "pending" as const, notes: "", updatedAt: NOW };
    await t.mutation(internal.mcp.writeArtifact, artifact);
    await t.mutation(internal.mcp.writeArtifact, { ...artifact, key: "a2", artifactId: "a2", path: "b.py" });
    expect((await t.query(internal.mcp.getPendingArtifacts, {})).map((a) => a.path)).toEqual(["a.py", "b.py"]);
    expect(await t.mutation(internal.mcp.updateReviewStatus,
      { key: "a1", version: 2, runner: "r", reviewStatus: "approved", notes: "fine" })).toBe("updated");
    expect(await t.mutation(internal.mcp.updateReviewStatus,
      { key: "a1", version: 1, runner: "r", reviewStatus: "rejected" })).toBe("stale");
    const pending = await t.query(internal.mcp.getPendingArtifacts, { runId: "run-1" });
    expect(pending.map((a) => a.path)).toEqual(["b.py"]);
    expect((pending[0] as any).content).toBeUndefined();
    await expect(t.mutation(internal.mcp.updateReviewStatus,
      { key: "nope", version: 1, runner: "r", reviewStatus: "approved" })).rejects.toThrow(/no artifact 'nope'/);
  });
});

describe("queries", () => {
  test("today's metrics and the cost analysis sum per agent and show the saving", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, {
      records: [
        metric("m1", 1),
        metric("m2", 1, { agent: "chatgpt-pro", cost_usd: 0, baseline_cost_usd: 0.75, fallback: false }),
        metric("m3", 1, { created_at: iso(NOW - 3 * 86_400_000) }),
      ],
    });
    const today = await t.query(internal.mcp.getTodayMetrics, {});
    expect(today.total.calls).toBe(2);
    expect(today.byAgent["chatgpt-pro"].savingUsd).toBeCloseTo(0.75);
    const cost = await t.query(internal.mcp.getCostAnalysis, { days: 7 });
    expect(cost.total.calls).toBe(3);
    expect(cost.total.costUsd).toBeCloseTo(0.5);
    expect(cost.total.baselineCostUsd).toBeCloseTo(1.25);
    expect(cost.savingPct).toBeCloseTo(60);
    expect(Object.keys(cost.perDay)).toHaveLength(2);
    const session = await t.query(internal.mcp.getSessionMetrics, { runId: "run-1" });
    expect(session.total.inputTokens).toBe(3000);
  });

  test("routing stats count overrides and outcomes into accuracy", async () => {
    const t = setup();
    const decision = (id: string, extra: Record<string, unknown>) => ({
      table: "routing_decisions", key: id, version: 1, runner: "r",
      payload: { decision_id: id, text: "fix bug", task_type: "debugging", agent: "claude", confidence: 0.9,
        scores: { claude: 80, "chatgpt-pro": 60, codex: 40 }, strategy: "learned", manual: false,
        estimated_cost_usd: 0.1, estimated_saving_usd: 0, repo: "o/r", created_at: iso(NOW), ...extra },
    });
    await t.mutation(internal.mirror.push, {
      records: [
        decision("d1", { outcome: "success" }),
        decision("d2", { override_agent: "codex" }),
        decision("d3", {}),
        decision("d4", { outcome: "failure" }),
      ],
    });
    const stats = await t.query(internal.mcp.getRoutingStats, {});
    expect(stats).toMatchObject({ decisions: 4, overridden: 1, judged: 3, byAgent: { claude: 4 } });
    expect(stats.accuracy).toBeCloseTo(1 / 3);
    expect(stats.successRate).toBeCloseTo(0.5);
  });

  test("a decision's shadow suggestions are kept typed, and a malformed one is rejected alone", async () => {
    const t = setup();
    const base = { text: "fix bug", task_type: "debugging", agent: "chatgpt-pro", confidence: 0.9, scores: {},
      strategy: "learned", manual: false, repo: "o/r", created_at: iso(NOW) };
    const out = await t.mutation(internal.mirror.push, {
      records: [
        { table: "routing_decisions", key: "s1", version: 1, runner: "r", payload: { ...base, decision_id: "s1",
          shadows: { keywords: { agent: "claude", task_type: "planning", confidence: 0.6 } } } },
        { table: "routing_decisions", key: "s2", version: 1, runner: "r", payload: { ...base, decision_id: "s2",
          shadows: ["keywords"] } },
        { table: "routing_decisions", key: "s3", version: 1, runner: "r", payload: { ...base, decision_id: "s3" } },
      ],
    });
    expect(out.map((r: any) => r.outcome)).toEqual(["inserted", "rejected", "inserted"]);
    expect(out[1].error).toContain("shadows");
    const docs = await t.run(async (ctx) => await ctx.db.query("routing_decisions").collect());
    const byKey = Object.fromEntries(docs.map((d: any) => [d.key, d]));
    expect(byKey.s1.shadows).toEqual({ keywords: { agent: "claude", taskType: "planning", confidence: 0.6 } });
    expect(byKey.s1.data.shadows.keywords.task_type).toBe("planning");
    expect(byKey.s3.shadows).toBeUndefined();
  });

  test("active sessions are the processes seen lately, with their run", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, {
      records: [{ table: "runs", key: "run-1", version: 1, runner: "r1",
        payload: { id: "run-1", text: "t", status: "building", repo: "o/r", created_at: iso(NOW) } }],
    });
    await t.mutation(internal.mirror.heartbeat,
      { runner: "r1", session: "s1", host: "ci-1", startedAt: NOW, runId: "run-1", pending: 3 });
    await t.mutation(internal.mirror.heartbeat,
      { runner: "r2", session: "s2", host: "ci-2", startedAt: NOW, pending: 0, stopped: true });
    const active = await t.query(internal.mcp.getActiveSessions, {});
    expect(active).toHaveLength(1);
    expect(active[0]).toMatchObject({ runner: "r1", host: "ci-1", pending: 3, run: { status: "building" } });
    expect(await t.query(internal.mcp.getActiveSessions, { since: Date.now() + 60_000 })).toEqual([]);
  });

  test("the functions report their version", async () => {
    const t = setup();
    const version = await t.query(api.mirror.version, {});
    expect(version.functions).toBe(3);
    expect(version.tables).toContain("routing_decisions");
  });

  test("dump pages through a table", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, { records: [1, 2, 3].map((i) => metric(`m${i}`, 1)) });
    const first = await t.query(internal.mirror.dump, { table: "metrics", paginationOpts: { numItems: 2, cursor: null } });
    expect(first.page).toHaveLength(2);
    const rest = await t.query(internal.mirror.dump,
      { table: "metrics", paginationOpts: { numItems: 2, cursor: first.continueCursor } });
    expect(rest.page.map((d: any) => d.key)).toEqual(["m3"]);
    expect(rest.isDone).toBe(true);
  });
});
