/*
 * wingman-mcp's protocol half: JSON-RPC 2.0 over stdio, one message a line,
 * as the Model Context Protocol's stdio transport says. It knows nothing of
 * Kafka: the tools are a table (tools.c) called through function pointers,
 * so the whole protocol is unit-tested without a broker.
 *
 * Rules kept here: a reply only to a request (never to a notification);
 * parse errors -32700, anything that is not a request -32600, unknown
 * methods -32601, bad params -32602; nothing but initialize and ping before
 * initialize; stdout carries protocol messages only (logs go to stderr).
 */
#ifndef WINGMAN_MCP_H
#define WINGMAN_MCP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MCP_LINE_MAX (1024 * 1024)
#define MCP_QUEUE_MAX 64

#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL_ERROR -32603

struct mcp;

/* What a tool handler gets besides its arguments. */
struct mcp_call {
	struct mcp *m;
	json_t *progress_token; /* borrowed; NULL: the client asked for no progress */
	double last_progress;
};

struct mcp_tool {
	const char *name;
	const char *title;
	const char *description;
	int read_only; /* annotations.readOnlyHint: it changes nothing anywhere */
	json_t *(*input_schema)(void); /* new reference */
	/*
	 * A CallToolResult (new reference): content, isError, and
	 * structuredContent when it has one. args is an object (borrowed).
	 */
	json_t *(*call)(void *ctx, struct mcp_call *call, const json_t *args);
};

/* Where messages go: one compact JSON object per line on the transport. */
typedef void (*mcp_send_fn)(void *arg, const json_t *msg);

struct mcp_line {
	char *text;
	size_t len;
};

struct mcp {
	const struct mcp_tool *tools;
	size_t n_tools;
	void *ctx; /* the tools' */
	mcp_send_fn send;
	void *send_arg;
	const char *name, *version, *instructions;
	int initialized; /* initialize answered */
	char protocol[16]; /* the negotiated revision */

	/* Input: the fd read, bytes not yet a whole line, lines read ahead. */
	int in_fd;
	int eof;
	char *buf;
	size_t buf_len;
	int discarding; /* inside a line longer than MCP_LINE_MAX */
	struct mcp_line queue[MCP_QUEUE_MAX];
	size_t q_head, q_len;
	/* Cleared by a signal handler: a waiting tool stops too. NULL: none. */
	volatile sig_atomic_t *running;
	/* The tools/call running now, and whether the client cancelled it. */
	json_t *current_id;
	int cancelled;
};

void mcp_init(struct mcp *m, int in_fd, mcp_send_fn send, void *send_arg);
void mcp_free(struct mcp *m);

/* Handles one line from the client, replying through m->send when due. */
void mcp_handle_line(struct mcp *m, const char *line, size_t len);

/*
 * Reads what is available on m->in_fd (waiting up to wait_ms), splitting
 * it into lines. Returns 1 with *line (owned by the caller: free) when a
 * line is ready, 0 when none yet, -1 at end of input.
 */
int mcp_next_line(struct mcp *m, int wait_ms, struct mcp_line *line);

/*
 * For a tool that waits: reads ahead without blocking, answers ping at
 * once, notes notifications/cancelled for the running call and queues the
 * rest. Returns 1 when the running call should stop (cancelled, the
 * client went away, or the server is stopping).
 */
int mcp_pump(struct mcp *m);

/* notifications/progress for the call, when its client gave a progressToken. */
void mcp_progress(struct mcp_call *call, double progress, const char *message);

/* A CallToolResult with one text item. New reference. */
json_t *mcp_tool_text(int is_error, const char *text);

/* 1 when the negotiated revision has structuredContent (2025-06-18 on). */
int mcp_has_structured(const struct mcp *m);

/* The revisions served, newest first; NULL-terminated. */
extern const char *const mcp_protocol_versions[];

#endif
