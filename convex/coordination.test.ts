/// <reference types="vite/client" />
// The team's coordination, run for real in convex-test: claims, reservations against the team's
// limits, spend settled through the mirror, and the router's lessons from other runners.
import { convexTest } from "convex-test";
import { describe, expect, test } from "vitest";
import { internal } from "./_generated/api";
import schema from "./schema";

const modules = import.meta.glob("./**/*.*s");
const setup = () => convexTest(schema, modules);

const A = { host: "runner-a", pid: 11, token: "tok-a", runner: "a" };
const B = { host: "runner-b", pid: 22, token: "tok-b", runner: "b" };
const month = (limitUsd: number) => ({ scope: "month", limitUsd, total: "month:2026-12" });
const run = (limitUsd: number, runId = "run-1") => ({ scope: "run", limitUsd, total: `run:${runId}`, runId });

function reservation(id: string, usd: number, runId = "run-1", expiresInMs = 60_000) {
  return { reservationId: id, runId, model: "claude-sonnet-5-5", usd, runner: "a", expiresInMs };
}

function spend(id: string, usd: number, runner = "a") {
  return {
    table: "spend",
    key: id,
    version: 1,
    runner,
    payload: { reservation_id: id, run_id: "run-1", usd, totals: ["month:2026-12", "run:run-1"] },
  };
}

describe("claims", () => {
  test("one runner holds a run; the other is told who", async () => {
    const t = setup();
    const first = await t.mutation(internal.coordination.claim, { runId: "run-1", holder: A, leaseMs: 60_000 });
    const second = await t.mutation(internal.coordination.claim, { runId: "run-1", holder: B, leaseMs: 60_000 });
    expect(first.token).toBe("tok-a");
    expect(second.token).toBe("tok-a");
    expect(await t.mutation(internal.coordination.renew, { runId: "run-1", token: "tok-b", leaseMs: 60_000 })).toBe(false);
    expect(await t.mutation(internal.coordination.renew, { runId: "run-1", token: "tok-a", leaseMs: 60_000 })).toBe(true);
    await t.mutation(internal.coordination.releaseClaim, { runId: "run-1", token: "tok-a" });
    const third = await t.mutation(internal.coordination.claim, { runId: "run-1", holder: B, leaseMs: 60_000 });
    expect(third.token).toBe("tok-b");
  });

  test("a lapsed claim is taken; a dead holder's at once when its machine says so", async () => {
    const t = setup();
    await t.mutation(internal.coordination.claim, { runId: "run-1", holder: A, leaseMs: -1 });
    expect((await t.mutation(internal.coordination.claim, { runId: "run-1", holder: B, leaseMs: 60_000 })).token).toBe("tok-b");
    await t.mutation(internal.coordination.claim, { runId: "run-2", holder: A, leaseMs: 60_000 });
    const taken = await t.mutation(internal.coordination.claim, {
      runId: "run-2",
      holder: B,
      leaseMs: 60_000,
      takeOver: "tok-a",
    });
    expect(taken.token).toBe("tok-b");
  });
});

describe("reservations", () => {
  test("calls in flight hold their estimate; the one that does not fit is refused and holds nothing", async () => {
    const t = setup();
    const windows = [month(1.0)];
    const one = await t.mutation(internal.coordination.reserve, { ...reservation("r1", 0.4), windows });
    const two = await t.mutation(internal.coordination.reserve, { ...reservation("r2", 0.4), windows });
    const three = await t.mutation(internal.coordination.reserve, { ...reservation("r3", 0.4), windows });
    expect([one.granted, two.granted, three.granted]).toEqual([true, true, false]);
    expect(three.committedUsd).toEqual([expect.closeTo(0.8, 9)]);
    await t.mutation(internal.coordination.release, { reservationId: "r2" });
    expect((await t.mutation(internal.coordination.reserve, { ...reservation("r4", 0.4), windows })).granted).toBe(true);
  });

  test("spend delivered through the mirror counts once and clears its reservation", async () => {
    const t = setup();
    await t.mutation(internal.coordination.reserve, { ...reservation("r1", 0.5), windows: [month(1), run(1)] });
    await t.mutation(internal.mirror.push, { records: [spend("r1", 0.3)] });
    await t.mutation(internal.mirror.push, { records: [spend("r1", 0.3)] }); // delivered twice
    const now = await t.query(internal.coordination.totals, { totals: ["month:2026-12", "run:run-1"] });
    expect(now.spent).toEqual([expect.closeTo(0.3, 9), expect.closeTo(0.3, 9)]);
    expect(now.heldUsd).toBe(0);
    const next = await t.mutation(internal.coordination.reserve, { ...reservation("r2", 0.8), windows: [month(1)] });
    expect(next.granted).toBe(false); // 0.3 spent + 0.8 passes 1.0
  });

  test("a reservation left by a crashed runner lapses", async () => {
    const t = setup();
    await t.mutation(internal.coordination.reserve, { ...reservation("r1", 0.9, "run-1", -1), windows: [month(1)] });
    const next = await t.mutation(internal.coordination.reserve, { ...reservation("r2", 0.9), windows: [month(1)] });
    expect(next.granted).toBe(true);
  });

  test("the run limit counts only that run's calls", async () => {
    const t = setup();
    await t.mutation(internal.coordination.reserve, { ...reservation("r1", 0.8, "run-a"), windows: [run(1, "run-a")] });
    const same = await t.mutation(internal.coordination.reserve, { ...reservation("r2", 0.3, "run-a"), windows: [run(1, "run-a")] });
    const other = await t.mutation(internal.coordination.reserve, { ...reservation("r3", 0.3, "run-b"), windows: [run(1, "run-b")] });
    expect([same.granted, other.granted]).toEqual([false, true]);
  });
});

describe("budget alerts", () => {
  test("the team says each alert once, whichever runner passes the threshold first", async () => {
    const t = setup();
    const key = "alert:month:2026-12:$50:80%";
    expect(await t.mutation(internal.coordination.firstAlert, { key, runner: "a" })).toBe(true);
    expect(await t.mutation(internal.coordination.firstAlert, { key, runner: "b" })).toBe(false);
    expect(await t.mutation(internal.coordination.firstAlert, { key, runner: "a" })).toBe(false);
    expect(await t.mutation(internal.coordination.firstAlert, { key: "paused:month:2026-12:$50", runner: "b" })).toBe(true);
  });
});

describe("lessons", () => {
  test("feedback from another runner comes back, oldest first, not one's own", async () => {
    const t = setup();
    const decision = (runner: string, id: string, feedbackAt: string) => ({
      table: "routing_decisions",
      key: id,
      version: 2,
      runner,
      payload: {
        id,
        repo: "acme/shop",
        text: "Export reports as CSV",
        task_type: "code_generation",
        agent: "chatgpt-pro",
        confidence: 0.7,
        override_agent: "claude",
        feedback_at: feedbackAt,
        created_at: "2026-12-01T10:00:00.000000+00:00",
      },
    });
    await t.mutation(internal.mirror.push, {
      records: [
        decision("b", "d2", "2026-12-02T10:00:00.000000+00:00"),
        decision("b", "d1", "2026-12-01T10:00:00.000000+00:00"),
        decision("a", "d3", "2026-12-02T11:00:00.000000+00:00"),
      ],
    });
    const got = await t.query(internal.coordination.lessons, { repo: "acme/shop", after: 0, runner: "a" });
    expect(got.map((l) => (l.data as { id: string }).id)).toEqual(["d1", "d2"]);
    const later = await t.query(internal.coordination.lessons, {
      repo: "acme/shop",
      after: Date.parse("2026-12-01T12:00:00Z"),
      runner: "a",
    });
    expect(later.map((l) => (l.data as { id: string }).id)).toEqual(["d2"]);
  });
});

describe("runs due", () => {
  const run = (runner: string, status: string, updatedAt: string, resumeAfter?: string) => ({
    table: "runs",
    key: "run-9",
    version: Date.parse(updatedAt),
    runner,
    payload: {
      id: "run-9",
      repo: "acme/shop",
      text: "Export reports as CSV",
      trigger: "issue",
      status,
      issue_number: 7,
      rounds: 1,
      resume_after: resumeAfter ?? null,
      created_at: "2026-12-01T09:00:00+00:00",
      updated_at: updatedAt,
    },
  });

  test("a paused run whose wait is over is due for any runner, by its newest copy", async () => {
    const t = setup();
    await t.mutation(internal.mirror.push, {
      records: [run("a", "paused", "2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+00:00")],
    });
    const before = await t.query(internal.coordination.runsDue, { now: Date.parse("2026-12-01T10:30:00Z") });
    expect(before).toEqual([]);
    const after = await t.query(internal.coordination.runsDue, { now: Date.parse("2026-12-01T11:30:00Z") });
    expect(after).toEqual([{ runId: "run-9", repo: "acme/shop", issueNumber: 7, trigger: "issue" }]);
    // runner b continued it since, and holds it: its copy is newer and no longer paused
    await t.mutation(internal.coordination.claim, { runId: "run-9", holder: B, leaseMs: 60_000 });
    await t.mutation(internal.mirror.push, { records: [run("b", "building", "2026-12-01T11:10:00+00:00")] });
    expect(await t.query(internal.coordination.runsDue, { now: Date.parse("2026-12-01T11:30:00Z") })).toEqual([]);
  });

  test("a run left going by a runner that died is due once its claim has lapsed", async () => {
    const t = setup();
    await t.mutation(internal.coordination.claim, { runId: "run-9", holder: A, leaseMs: 60_000 });
    await t.mutation(internal.mirror.push, { records: [run("a", "building", "2026-12-01T10:00:00+00:00")] });
    expect(await t.query(internal.coordination.runsDue, { now: Date.now() })).toEqual([]);
    expect(await t.query(internal.coordination.runsDue, { now: Date.now() + 61_000 })).toEqual([
      { runId: "run-9", repo: "acme/shop", issueNumber: 7, trigger: "issue" },
    ]);
    await t.mutation(internal.mirror.push, { records: [run("a", "done", "2026-12-01T10:20:00+00:00")] });
    expect(await t.query(internal.coordination.runsDue, { now: Date.now() + 61_000 })).toEqual([]);
  });
});
