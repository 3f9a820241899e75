/// <reference types="vite/client" />
// `dashboard:records`, what `gitorch dashboard --store convex` follows: every runner's records of a
// period, each as the runner sent it. Run with `npx vitest run convex`.
import { convexTest } from "convex-test";
import { expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import schema from "./schema";

const modules = import.meta.glob("./**/*.*s");
const DAY = 86_400_000;
const NOW = Date.now();
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "000+00:00");

function run(runId: string, runner: string, at: number) {
  return {
    table: "runs",
    key: runId,
    version: 1,
    runner,
    payload: { id: runId, text: `task of ${runner}`, trigger: "cli", status: "building", repo: "acme/shop",
               rounds: 1, created_at: iso(at), updated_at: iso(at) },
  };
}

function step(runId: string, runner: string, key: string, at: number) {
  return {
    table: "journal",
    key: `${runId}:${key}`,
    version: 1,
    runner,
    payload: { run_id: runId, key, status: "started", data: null, result: null, attempts: 1,
               started_at: iso(at), finished_at: null },
  };
}

test("every runner's records of the period come back as they were sent", async () => {
  const t = convexTest(schema, modules);
  await t.mutation(internal.mirror.push, {
    records: [
      run("run-a", "runner-a", NOW - DAY),
      run("run-b", "runner-b", NOW - 2 * DAY),
      run("run-old", "runner-a", NOW - 40 * DAY),
      step("run-a", "runner-a", "plan", NOW - DAY),
      step("run-b", "runner-b", "plan", NOW - 2 * DAY),
    ],
  });
  const got = await t.query(internal.dashboard.records, { since: NOW - 30 * DAY });
  expect(got.runs.map((r: any) => [r.runner, r.data.id])).toEqual([["runner-a", "run-a"], ["runner-b", "run-b"]]);
  expect(got.journal.map((s: any) => s.data.run_id).sort()).toEqual(["run-a", "run-b"]);
  expect((got.runs[0] as any).data.text).toBe("task of runner-a");
  expect(got.metrics).toEqual([]);
});
