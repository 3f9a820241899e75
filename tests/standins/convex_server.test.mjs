// The local Convex server's sync WebSocket, spoken to message by message as the convex clients do.
// Run with `npx vitest run convex`.
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import WebSocket from "ws";

const here = path.dirname(fileURLToPath(import.meta.url));
const ZERO_TS = Buffer.alloc(8).toString("base64");
let server;
let port;

beforeAll(async () => {
  server = spawn(process.execPath, [
    path.join(here, "convex_server.mjs"),
    "--convex-dir", path.join(here, "..", "..", "convex"),
    "--admin-key", "test-admin-key",
    "--ping-ms", "200",
  ], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: server.stdout });
  const first = await new Promise((resolve) => lines.once("line", resolve));
  port = JSON.parse(first).port;
}, 60_000);

afterAll(() => {
  server.stdin.end(); // the server stops when its stdin closes
});

/** A socket and a queue of the messages it received, raw text kept. */
async function connect() {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/1.49.0/sync`);
  const inbox = [];
  const waiting = [];
  ws.on("message", (data) => {
    const msg = { text: data.toString(), ...JSON.parse(data.toString()) };
    const i = waiting.findIndex((w) => w.type === msg.type);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(msg);
    else inbox.push(msg);
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const next = (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve) => waiting.push({ type, resolve }));
  };
  const send = (msg) => ws.send(JSON.stringify(msg));
  send({ type: "Connect", sessionId: "s-1", connectionCount: 0, lastCloseReason: null, clientTs: Date.now() });
  return { ws, next, send };
}

test("a new query set starts at version 0 and gets the query's value, floats written as 1.0", async () => {
  const { ws, next, send } = await connect();
  send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1,
    modifications: [{ type: "Add", queryId: 0, udfPath: "mirror:version", args: [{}] }] });
  const t = await next("Transition");
  expect(t.startVersion).toEqual({ querySet: 0, ts: ZERO_TS, identity: 0 });
  expect(t.endVersion.querySet).toBe(1);
  expect(t.modifications[0]).toMatchObject({ type: "QueryUpdated", queryId: 0, value: { functions: 3 } });
  expect(t.text).toContain('"functions":3.0');
  ws.close();
});

test("every mutation, failed or not, is followed by a transition that covers it", async () => {
  const { ws, next, send } = await connect();
  send({ type: "Authenticate", tokenType: "Admin", value: "test-admin-key", baseVersion: 0 });
  await next("Transition"); // team data is read and written with the deploy key only
  send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1,
    modifications: [{ type: "Add", queryId: 0, udfPath: "mcp:getTodayMetrics", args: [{}] }] });
  const first = await next("Transition");
  send({ type: "Mutation", requestId: 0, udfPath: "mcp:updateReviewStatus",
    args: [{ key: "nope", version: 2, runner: "r", reviewStatus: "approved" }] });
  const failed = await next("MutationResponse");
  expect(failed).toMatchObject({ requestId: 0, success: false });
  expect(failed.result).toContain("no artifact 'nope'");
  const after = await next("Transition");
  expect(after.startVersion).toEqual(first.endVersion);
  expect(Buffer.from(after.endVersion.ts, "base64").readBigUInt64LE() > 0n).toBe(true);

  send({ type: "Mutation", requestId: 1, udfPath: "mcp:recordMetric", args: [{
    key: "ws-1", version: 1, runner: "ws", agent: "codex", model: "gpt", inputTokens: 5, outputTokens: 1,
    cacheWriteTokens: 0, cacheReadTokens: 0, costUsd: 0, baselineCostUsd: 0.1, durationS: 1, fallback: false,
    createdAt: Date.now() }] });
  const ok = await next("MutationResponse");
  expect(ok).toMatchObject({ requestId: 1, success: true, result: "inserted" });
  const covered = await next("Transition");
  const ts = Buffer.from(ok.ts, "base64").readBigUInt64LE();
  expect(Buffer.from(covered.endVersion.ts, "base64").readBigUInt64LE() >= ts).toBe(true);
  expect(covered.modifications[0].value.byAgent.codex.calls).toBe(1);
  ws.close();
});

test("the admin key authenticates; a wrong one is an AuthError", async () => {
  const { ws, next, send } = await connect();
  send({ type: "Authenticate", tokenType: "Admin", value: "wrong", baseVersion: 0 });
  expect((await next("AuthError")).error).toContain("admin key");
  send({ type: "Authenticate", tokenType: "Admin", value: "test-admin-key", baseVersion: 0 });
  expect((await next("Transition")).endVersion.identity).toBe(1);
  ws.close();
});

test("the server pings", async () => {
  const { ws, next } = await connect();
  expect((await next("Ping")).type).toBe("Ping");
  ws.close();
});
