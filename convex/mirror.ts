// What gitorch's outbox drain calls: a batch upsert of records and a runner's heartbeat (internal:
// only a caller with the deployment's admin or deploy key may write), the functions version
// `gitorch doctor` checks, and `dump` to read a table back page by page (internal too).
import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import { internalMutation, internalQuery, query } from "./_generated/server";
import { settleSpend } from "./coordination";
import {
  dataFromPayload,
  fieldsFromPayload,
  FUNCTIONS_VERSION,
  MIRRORED_TABLES,
  type MirroredTable,
  upsert,
} from "./records";

const record = v.object({
  table: v.string(),
  key: v.string(),
  version: v.number(),
  runner: v.string(),
  payload: v.any(),
});

const result = v.object({
  key: v.string(),
  outcome: v.union(
    v.literal("inserted"),
    v.literal("updated"),
    v.literal("duplicate"),
    v.literal("stale"),
    v.literal("rejected"),
  ),
  error: v.optional(v.string()),
});

/**
 * Upsert a batch of outbox records, all in one transaction. A record that cannot be stored (an
 * unknown table, a field of the wrong type) is answered `rejected` with the reason, and the others
 * are still stored: one bad record never holds back the rest of a runner's outbox.
 */
export const push = internalMutation({
  args: { records: v.array(record) },
  returns: v.array(result),
  handler: async (ctx, { records }) => {
    const now = Date.now();
    const out = [];
    for (const r of records) {
      const envelope = { key: r.key, version: r.version, runner: r.runner };
      if (!(MIRRORED_TABLES as string[]).includes(r.table)) {
        out.push({
          key: r.key,
          outcome: "rejected" as const,
          error: `unknown table '${r.table}'; known: ${MIRRORED_TABLES.join(", ")}`,
        });
        continue;
      }
      const table = r.table as MirroredTable;
      try {
        const payload = r.payload ?? {};
        const fields = fieldsFromPayload(table, payload, now);
        const outcome = await upsert(ctx, table, envelope, fields, dataFromPayload(table, payload));
        if (table === "spend" && outcome === "inserted") {
          // a paid call's real cost, counted once in the team's totals; its reservation is gone
          await settleSpend(ctx, fields as { reservationId: string; usd: number; totals: string[] });
        }
        out.push({ key: r.key, outcome });
      } catch (err) {
        out.push({ key: r.key, outcome: "rejected" as const, error: `${table}/${r.key}: ${(err as Error).message}` });
      }
    }
    return out;
  },
});

/** A runner's gitorch process says it is alive, what run it is on and how much it has not sent yet. */
export const heartbeat = internalMutation({
  args: {
    runner: v.string(),
    session: v.string(),
    host: v.string(),
    startedAt: v.number(),
    runId: v.optional(v.string()),
    pending: v.number(),
    stopped: v.optional(v.boolean()),
  },
  returns: v.null(),
  handler: async (ctx, args) => {
    const now = Date.now();
    const existing = await ctx.db
      .query("sessions")
      .withIndex("by_key", (q) => q.eq("runner", args.runner).eq("key", args.session))
      .unique();
    const fields = {
      host: args.host,
      startedAt: args.startedAt,
      lastSeenAt: now,
      status: args.stopped ? ("stopped" as const) : ("active" as const),
      runId: args.runId,
      pending: args.pending,
    };
    const version = (existing?.version ?? 0) + 1;
    await upsert(ctx, "sessions", { key: args.session, version, runner: args.runner }, fields);
    return null;
  },
});

/** The version of these functions, and the tables they mirror. */
export const version = query({
  args: {},
  returns: v.object({ functions: v.number(), tables: v.array(v.string()) }),
  handler: async () => ({ functions: FUNCTIONS_VERSION, tables: ["sessions", ...MIRRORED_TABLES] }),
});

/** One page of a table, oldest first (admin key only). */
export const dump = internalQuery({
  args: { table: v.string(), paginationOpts: paginationOptsValidator },
  handler: async (ctx, { table, paginationOpts }) => {
    if (table !== "sessions" && !(MIRRORED_TABLES as string[]).includes(table)) {
      throw new Error(`unknown table '${table}'`);
    }
    return await ctx.db.query(table as MirroredTable).paginate(paginationOpts);
  },
});
