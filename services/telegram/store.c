/*
 * The bot's state in PostgreSQL (sql/002_telegram.sql): the message of each
 * prompt, the votes it forwarded and the getUpdates offset. Each loop has
 * its own connection; a press is decided and recorded under a row lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "log.h"
#include "pg.h"

struct tgstore {
	struct pg_link db;
};

struct tgstore *
tgstore_open(const char *conninfo)
{
	struct tgstore *s = calloc(1, sizeof(*s));

	if (s == NULL || pg_link_init(&s->db, conninfo) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

void
tgstore_close(struct tgstore *s)
{
	if (s == NULL)
		return;
	pg_link_close(&s->db);
	free(s);
}

void
tg_prompt_row_free(struct tg_prompt_row *row)
{
	json_decref(row->prompt);
	json_decref(row->approvals);
	json_decref(row->decided_by);
	row->prompt = row->approvals = row->decided_by = NULL;
}

static PGresult *
query(struct tgstore *s, const char *sql, int n, const char *const *params)
{
	return pg_link_query(&s->db, sql, n, params);
}

static long long
value_ll(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

#define ROW_COLUMNS "state, chat_id, message_id, prompt, approvals, decided_by, reason"

static void
fill_row(PGresult *r, struct tg_prompt_row *row)
{
	snprintf(row->state, sizeof(row->state), "%s", PQgetvalue(r, 0, 0));
	row->chat_id = value_ll(r, 0, 1);
	row->message_id = value_ll(r, 0, 2);
	row->prompt = json_loads(PQgetvalue(r, 0, 3), 0, NULL);
	row->approvals = json_loads(PQgetvalue(r, 0, 4), 0, NULL);
	row->decided_by = json_loads(PQgetvalue(r, 0, 5), 0, NULL);
	snprintf(row->reason, sizeof(row->reason), "%s", PQgetvalue(r, 0, 6));
}

enum tgstore_rc
tgstore_prompt_get(struct tgstore *s, const char *request_id, struct tg_prompt_row *row)
{
	const char *p[] = { request_id };
	PGresult *r;

	memset(row, 0, sizeof(*row));
	r = query(s, "SELECT " ROW_COLUMNS " FROM telegram_prompts WHERE request_id = $1", 1, p);
	if (r == NULL)
		return TGS_DOWN;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return TGS_NOT_FOUND;
	}
	fill_row(r, row);
	PQclear(r);
	return row->prompt != NULL ? TGS_OK : TGS_DOWN;
}

enum tgstore_rc
tgstore_prompt_insert(struct tgstore *s, const json_t *prompt, long long chat_id)
{
	char *text = json_dumps(prompt, JSON_COMPACT), *approvals;
	char handle[CB_HANDLE_LEN + 1], chat[32], required[16];
	const char *rid = msg_str(prompt, "request_id");
	enum tgstore_rc rc;
	PGresult *r;

	approvals = json_dumps(json_object_get(prompt, "approvals"), JSON_COMPACT);
	if (text == NULL || approvals == NULL) {
		free(text);
		free(approvals);
		return TGS_DOWN;
	}
	cb_handle(rid, handle);
	snprintf(chat, sizeof(chat), "%lld", chat_id);
	snprintf(required, sizeof(required), "%lld",
	    (long long)json_integer_value(json_object_get(prompt, "approvers_required")));
	{
		const char *p[] = { rid, handle, text, msg_str(prompt, "worker_id"), required,
			msg_str(prompt, "expires_at"), chat, approvals };
		r = query(s,
		    "INSERT INTO telegram_prompts (request_id, handle, prompt, worker_id,"
		    " approvers_required, expires_at, chat_id, approvals)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
		    8, p);
	}
	free(text);
	free(approvals);
	if (r == NULL)
		return TGS_DOWN;
	PQclear(r);
	{
		/* Not inserted because of the request (a copy) or of the handle? */
		const char *p[] = { handle };
		r = query(s, "SELECT request_id FROM telegram_prompts WHERE handle = $1", 1, p);
	}
	if (r == NULL)
		return TGS_DOWN;
	rc = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), rid) != 0 ? TGS_COLLISION : TGS_OK;
	PQclear(r);
	return rc;
}

/* sql: an UPDATE of one request's row, $1 the request id, $2 a message id. */
static enum tgstore_rc
set_message_id(struct tgstore *s, const char *sql, const char *request_id, long long message_id)
{
	char mid[32];
	const char *p[] = { request_id, mid };
	PGresult *r;

	snprintf(mid, sizeof(mid), "%lld", message_id);
	if ((r = query(s, sql, 2, p)) == NULL)
		return TGS_DOWN;
	PQclear(r);
	return TGS_OK;
}

enum tgstore_rc
tgstore_prompt_sent(struct tgstore *s, const char *request_id, long long message_id)
{
	return set_message_id(s,
	    "UPDATE telegram_prompts SET message_id = $2, updated_at = now()"
	    " WHERE request_id = $1",
	    request_id, message_id);
}

enum tgstore_rc
tgstore_prompt_update(struct tgstore *s, const json_t *update, struct tg_prompt_row *row)
{
	char *approvals = json_dumps(json_object_get(update, "approvals"), JSON_COMPACT);
	char *decided_by = json_dumps(json_object_get(update, "decided_by"), JSON_COMPACT);
	const char *rid = msg_str(update, "request_id");
	PGresult *r = NULL;
	enum tgstore_rc rc = TGS_DOWN;

	memset(row, 0, sizeof(*row));
	if (approvals == NULL || decided_by == NULL)
		goto done;
	{
		/*
		 * Final states are never left, and a pending update never
		 * shows fewer approvals than already shown: a redelivered old
		 * update changes nothing.
		 */
		const char *p[] = { rid, msg_str(update, "state"), approvals, decided_by,
			msg_str(update, "reason") };
		r = query(s,
		    "UPDATE telegram_prompts SET state = $2, approvals = $3, decided_by = $4,"
		    " reason = $5, updated_at = now() WHERE request_id = $1 AND state = 'pending' AND"
		    " ($2 <> 'pending' OR json_array_length($3::json) >= json_array_length(approvals::json))",
		    5, p);
	}
	if (r == NULL)
		goto done;
	PQclear(r);
	rc = tgstore_prompt_get(s, rid, row);
	r = NULL;
done:
	free(approvals);
	free(decided_by);
	return rc;
}

enum tgstore_rc
tgstore_press_lock(struct tgstore *s, const char *handle, const char *approver,
    struct press_target *t)
{
	const char *p[] = { handle, approver };
	PGresult *r = NULL;

	memset(t, 0, sizeof(*t));
	if ((r = query(s, "BEGIN", 0, NULL)) == NULL)
		return TGS_DOWN;
	PQclear(r);
	r = query(s,
	    "SELECT request_id, worker_id, state, approvers_required,"
	    " (extract(epoch FROM expires_at) * 1000)::bigint,"
	    " (SELECT count(*) FROM telegram_votes v WHERE v.request_id = t.request_id AND"
	    "  v.decision = 'approve'),"
	    " EXISTS (SELECT 1 FROM telegram_votes v WHERE v.request_id = t.request_id AND"
	    "  v.decision = 'reject'),"
	    " EXISTS (SELECT 1 FROM telegram_votes v WHERE v.request_id = t.request_id AND"
	    "  v.approver = $2)"
	    " FROM telegram_prompts t WHERE handle = $1 FOR UPDATE",
	    2, p);
	if (r == NULL) {
		tgstore_rollback(s);
		return TGS_DOWN;
	}
	if (PQntuples(r) == 1) {
		t->found = 1;
		snprintf(t->request_id, sizeof(t->request_id), "%s", PQgetvalue(r, 0, 0));
		snprintf(t->worker_id, sizeof(t->worker_id), "%s", PQgetvalue(r, 0, 1));
		snprintf(t->state, sizeof(t->state), "%s", PQgetvalue(r, 0, 2));
		t->approvers_required = (int)value_ll(r, 0, 3);
		t->expires_ms = value_ll(r, 0, 4);
		t->approves_forwarded = (int)value_ll(r, 0, 5);
		t->reject_forwarded = strcmp(PQgetvalue(r, 0, 6), "t") == 0;
		t->voted = strcmp(PQgetvalue(r, 0, 7), "t") == 0;
	}
	PQclear(r);
	return TGS_OK;
}

enum tgstore_rc
tgstore_press_vote(struct tgstore *s, const char *request_id, const char *approver,
    const char *decision, long long from_id)
{
	char from[32];
	const char *p[] = { request_id, approver, decision, from };
	PGresult *r;

	snprintf(from, sizeof(from), "%lld", from_id);
	r = query(s,
	    "INSERT INTO telegram_votes (request_id, approver, decision, from_id)"
	    " VALUES ($1, $2, $3, $4) ON CONFLICT (request_id, approver) DO NOTHING",
	    4, p);
	if (r == NULL)
		return TGS_DOWN;
	PQclear(r);
	return TGS_OK;
}

int
tgstore_commit(struct tgstore *s)
{
	PGresult *r = query(s, "COMMIT", 0, NULL);

	PQclear(r);
	return r != NULL ? 0 : -1;
}

void
tgstore_rollback(struct tgstore *s)
{
	if (s->db.conn != NULL)
		PQclear(PQexec(s->db.conn, "ROLLBACK"));
}

enum tgstore_rc
tgstore_offset_get(struct tgstore *s, const char *bot_id, long long *offset)
{
	const char *p[] = { bot_id };
	PGresult *r;

	*offset = 0;
	r = query(s, "SELECT next_offset FROM telegram_offsets WHERE bot_id = $1", 1, p);
	if (r == NULL)
		return TGS_DOWN;
	if (PQntuples(r) == 1)
		*offset = value_ll(r, 0, 0);
	PQclear(r);
	return TGS_OK;
}

enum tgstore_rc
tgstore_offset_set(struct tgstore *s, const char *bot_id, long long offset)
{
	char off[32];
	const char *p[] = { bot_id, off };
	PGresult *r;

	snprintf(off, sizeof(off), "%lld", offset);
	/* Only forward: an older offset never replaces a newer one. */
	r = query(s,
	    "INSERT INTO telegram_offsets (bot_id, next_offset) VALUES ($1, $2)"
	    " ON CONFLICT (bot_id) DO UPDATE SET next_offset = greatest(telegram_offsets.next_offset,"
	    " excluded.next_offset), updated_at = now()",
	    2, p);
	if (r == NULL)
		return TGS_DOWN;
	PQclear(r);
	return TGS_OK;
}

void
tg_exec_row_free(struct tg_exec_row *row)
{
	json_decref(row->request);
	row->request = NULL;
}

#define EXEC_COLUMNS "request_id, chat_id, message_id, request, ack_message_id, result_message_id"

static enum tgstore_rc
exec_fill(PGresult *r, struct tg_exec_row *row)
{
	if (r == NULL)
		return TGS_DOWN;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return TGS_NOT_FOUND;
	}
	snprintf(row->request_id, sizeof(row->request_id), "%s", PQgetvalue(r, 0, 0));
	row->chat_id = value_ll(r, 0, 1);
	row->message_id = value_ll(r, 0, 2);
	row->request = json_loads(PQgetvalue(r, 0, 3), 0, NULL);
	row->ack_message_id = value_ll(r, 0, 4);
	row->result_message_id = value_ll(r, 0, 5);
	PQclear(r);
	return row->request != NULL ? TGS_OK : TGS_DOWN;
}

enum tgstore_rc
tgstore_exec_record(struct tgstore *s, const json_t *request, long long chat_id,
    long long message_id, long long from_id, const char *requester, struct tg_exec_row *row)
{
	char *text = json_dumps(request, JSON_COMPACT), chat[32], mid[32], from[32];
	PGresult *r;

	memset(row, 0, sizeof(*row));
	if (text == NULL)
		return TGS_DOWN;
	snprintf(chat, sizeof(chat), "%lld", chat_id);
	snprintf(mid, sizeof(mid), "%lld", message_id);
	snprintf(from, sizeof(from), "%lld", from_id);
	{
		const char *p[] = { msg_str(request, "request_id"), chat, mid, from, requester,
			text };
		r = query(s,
		    "INSERT INTO telegram_execs (request_id, chat_id, message_id, from_id, requester,"
		    " request) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
		    6, p);
	}
	free(text);
	if (r == NULL)
		return TGS_DOWN;
	PQclear(r);
	{
		const char *p[] = { chat, mid };
		r = query(s,
		    "SELECT " EXEC_COLUMNS
		    " FROM telegram_execs WHERE chat_id = $1 AND message_id = $2",
		    2, p);
	}
	/* Not found after the insert: the request id was another message's (a uuid: never). */
	return exec_fill(r, row) == TGS_OK ? TGS_OK : TGS_DOWN;
}

enum tgstore_rc
tgstore_exec_get(struct tgstore *s, const char *request_id, struct tg_exec_row *row)
{
	const char *p[] = { request_id };

	memset(row, 0, sizeof(*row));
	return exec_fill(query(s,
	                     "SELECT " EXEC_COLUMNS " FROM telegram_execs WHERE request_id = $1", 1,
	                     p),
	    row);
}

enum tgstore_rc
tgstore_exec_open(struct tgstore *s, long long from_id, long long chat_id, long long message_id,
    long long *count)
{
	char from[32], chat[32], mid[32];
	const char *p[] = { from, chat, mid };
	PGresult *r;

	*count = 0;
	snprintf(from, sizeof(from), "%lld", from_id);
	snprintf(chat, sizeof(chat), "%lld", chat_id);
	snprintf(mid, sizeof(mid), "%lld", message_id);
	r = query(s,
	    "SELECT count(*) FROM telegram_execs WHERE from_id = $1 AND result_status IS NULL"
	    " AND created_at > now() - interval '1 hour' AND NOT (chat_id = $2 AND message_id = $3)",
	    3, p);
	if (r == NULL)
		return TGS_DOWN;
	if (PQntuples(r) == 1)
		*count = value_ll(r, 0, 0);
	PQclear(r);
	return TGS_OK;
}

enum tgstore_rc
tgstore_exec_acked(struct tgstore *s, const char *request_id, long long ack_message_id)
{
	return set_message_id(s,
	    "UPDATE telegram_execs SET ack_message_id = $2, updated_at = now()"
	    " WHERE request_id = $1",
	    request_id, ack_message_id);
}

enum tgstore_rc
tgstore_exec_answered(struct tgstore *s, const char *request_id, const char *status,
    long long result_message_id)
{
	char mid[32];
	const char *p[] = { request_id, status, mid };
	PGresult *r;

	snprintf(mid, sizeof(mid), "%lld", result_message_id);
	r = query(s,
	    "UPDATE telegram_execs SET result_status = $2, result_message_id = $3,"
	    " updated_at = now() WHERE request_id = $1",
	    3, p);
	if (r == NULL)
		return TGS_DOWN;
	PQclear(r);
	return TGS_OK;
}
