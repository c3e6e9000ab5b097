/*
 * The receipt's statement from audit rows (receipt_statement): what it says
 * comes only from rows their entitled service wrote. A neighbour that writes
 * rows in its own name under another service's event names (a compromised
 * consensus "voting" as a human) is left out, not believed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auditor.h"

static json_t *
row(json_int_t seq, const char *service, const char *event, json_t *details)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:o, s:s}", "seq", seq, "service", service,
	    "request_id", "r-1", "event", event, "details", details, "row_hash", "ab");
}

/* The honest story of a request bob approved and that ran once. */
static json_t *
honest_rows(void)
{
	json_t *rows = json_array();

	json_array_append_new(rows,
	    row(1, "wingman-consensus", "request_received",
	        json_pack("{s:s, s:s, s:s}", "sha256", "aa", "worker_id", "agent-7", "environment",
	            "prd")));
	json_array_append_new(rows,
	    row(2, "wingman-consensus", "assessed",
	        json_pack("{s:[], s:[], s:s}", "votes", "dissent", "risk", "high")));
	json_array_append_new(rows,
	    row(3, "wingman-approval", "human_vote",
	        json_pack("{s:s, s:s, s:b}", "approver", "bob", "decision", "approve", "counted",
	            1)));
	json_array_append_new(rows,
	    row(4, "wingman-approval", "approved", json_pack("{s:s}", "state", "approved")));
	json_array_append_new(rows,
	    row(5, "wingman-token", "token_minted",
	        json_pack("{s:s, s:s, s:s}", "jti", "j-1", "sha256", "bb", "cmd", "docker ps")));
	json_array_append_new(rows,
	    row(6, "wingman-executor", "execution_result",
	        json_pack("{s:s, s:s, s:i, s:s}", "jti", "j-1", "status", "ok", "exit_code", 0,
	            "output_sha256", "cc")));
	json_array_append_new(rows,
	    row(7, "wingman-executor", "result",
	        json_pack("{s:s, s:s}", "status", "executed", "reason", "")));
	return rows;
}

/* What the receipt of honest_rows says, whatever else the log holds. */
static void
assert_bobs_story(const json_t *st)
{
	const json_t *p = json_object_get(st, "predicate");
	const json_t *decision = json_object_get(p, "decision");
	const json_t *approvers = json_object_get(decision, "approvers");

	assert_non_null(st);
	assert_string_equal(json_string_value(json_object_get(p, "status")), "executed");
	assert_string_equal(json_string_value(json_object_get(decision, "outcome")), "approved");
	assert_int_equal(json_array_size(approvers), 1);
	assert_string_equal(json_string_value(json_array_get(approvers, 0)), "bob");
	assert_int_equal(json_array_size(json_object_get(decision, "human_votes")), 1);
	assert_int_equal(json_array_size(json_object_get(p, "tokens")), 1);
	assert_int_equal(json_array_size(json_object_get(p, "commands")), 1);
	assert_string_equal(json_string_value(json_object_get(p, "risk")), "high");
}

static void
honest_story_is_told(void **state)
{
	json_t *rows = honest_rows(), *st = receipt_statement("r-1", rows);

	assert_bobs_story(st);
	json_decref(st);
	json_decref(rows);
}

/* Rows a compromised consensus can append in its own name. */
static void
neighbour_rows_are_left_out(void **state)
{
	json_t *rows = honest_rows(), *st;
	const char *liar = "wingman-consensus";

	json_array_append_new(rows,
	    row(8, liar, "human_vote",
	        json_pack("{s:s, s:s, s:b}", "approver", "mallory", "decision", "approve",
	            "counted", 1)));
	json_array_append_new(rows, row(9, liar, "auto_approved", json_object()));
	json_array_append_new(rows,
	    row(10, liar, "token_minted",
	        json_pack("{s:s, s:s, s:s}", "jti", "j-evil", "sha256", "dd", "cmd", "docker rm x")));
	json_array_append_new(rows,
	    row(11, liar, "execution_result",
	        json_pack("{s:s, s:s, s:i, s:s}", "jti", "j-evil", "status", "ok", "exit_code", 0,
	            "output_sha256", "ee")));
	json_array_append_new(rows,
	    row(12, "wingman-token", "result",
	        json_pack("{s:s, s:s}", "status", "failed", "reason", "forged")));
	json_array_append_new(rows,
	    row(13, "wingman-executor", "assessed", json_pack("{s:s}", "risk", "low")));
	st = receipt_statement("r-1", rows);
	assert_bobs_story(st);
	json_decref(st);
	json_decref(rows);
}

/* An end written by a service that may not end a request is no end. */
static void
foreign_end_is_no_end(void **state)
{
	json_t *rows = json_array();

	json_array_append_new(rows,
	    row(1, "wingman-consensus", "request_received", json_pack("{s:s}", "sha256", "aa")));
	json_array_append_new(rows,
	    row(2, "wingman-consensus", "rejected", json_pack("{s:s}", "reason", "forged")));
	json_array_append_new(rows,
	    row(3, "wingman-token", "result", json_pack("{s:s}", "status", "executed")));
	assert_null(receipt_statement("r-1", rows));
	json_decref(rows);
}

/*
 * The request's rows are in one chain per writer: the receipt anchors the
 * last row of each (audit.heads), not only the last row of all.
 */
static void
every_chain_is_anchored(void **state)
{
	json_t *rows = honest_rows(), *r, *st, *heads;
	size_t i;
	char hash[32];

	(void)state;
	json_array_foreach(rows, i, r)
	{
		char chain[64];

		snprintf(chain, sizeof(chain), "%s/0",
		    json_string_value(json_object_get(r, "service")));
		snprintf(hash, sizeof(hash), "h%zu", i + 1);
		json_object_set_new(r, "chain", json_string(chain));
		json_object_set_new(r, "row_hash", json_string(hash));
	}
	st = receipt_statement("r-1", rows);
	assert_non_null(st);
	heads = json_object_get(json_object_get(json_object_get(st, "predicate"), "audit"), "heads");
	assert_int_equal(json_object_size(heads), 4);
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(heads, "wingman-consensus/0"), "seq")),
	    2);
	assert_string_equal(json_string_value(
	                        json_object_get(json_object_get(heads, "wingman-approval/0"),
	                            "row_hash")),
	    "h4");
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(heads, "wingman-token/0"), "seq")),
	    5);
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(heads, "wingman-executor/0"), "seq")),
	    7);
	json_decref(st);
	json_decref(rows);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(honest_story_is_told),
		cmocka_unit_test(neighbour_rows_are_left_out),
		cmocka_unit_test(foreign_end_is_no_end),
		cmocka_unit_test(every_chain_is_anchored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
