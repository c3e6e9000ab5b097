/*
 * The wingman CLI: one file per group of subcommands, dispatched by main.c;
 * cli_common.c holds what they share.
 */
#ifndef WINGMAN_CLI_H
#define WINGMAN_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "config.h"

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3

/* Prints the usage text to standard error and exits EXIT_USAGE. */
void usage(void) __attribute__((noreturn));
/* Prints the usage text and the environment it reads to f (--help). */
void usage_show(FILE *f);
/* Loads and checks the environment (config.h) once, before any subcommand. */
int cli_config_load(char *err, size_t errlen);
/* The environment, loaded and checked by main. */
const struct config *cli_config(void);
/* WINGMAN_KAFKA_BROKERS or the local default. */
const char *brokers(void);
/* Parses --timeout seconds or exits EXIT_USAGE. */
int parse_timeout(const char *s);

/*
 * A reader of topic that starts at the given offsets (one per partition) or
 * at the beginning, without committing anything. *n_out: its partitions.
 */
rd_kafka_t *topic_reader(const char *topic, const int64_t *start, int *n_out);

/*
 * Every message of topic (with key, when not NULL), from the beginning to
 * its end when called, parsed as JSON (new array), or NULL with a message
 * on stderr naming who.
 */
json_t *topic_messages(const char *topic, const char *key, const char *who);

/* Each takes argv starting at its own name. */
int cmd_submit(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_decide(const char *decision, int argc, char **argv);
int cmd_pending(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_command(int argc, char **argv);
int cmd_message(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_receipt(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_freeze(int argc, char **argv);
int cmd_thaw(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_hook(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_dlq(int argc, char **argv);

#endif
