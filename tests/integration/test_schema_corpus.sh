#!/usr/bin/env bash
# The JSON Schemas in schemas/ and the C decoders (`wingman message check`)
# agree on every message of the corpus in schemas/examples/.
# Needs no running stack. Environment: WINGMAN_SOURCE_DIR, WINGMAN_BUILD_DIR.
set -euo pipefail

: "${WINGMAN_SOURCE_DIR:?WINGMAN_SOURCE_DIR is not set}"
: "${WINGMAN_BUILD_DIR:?WINGMAN_BUILD_DIR is not set}"

exec python3 "$WINGMAN_SOURCE_DIR/tests/schema_corpus.py" \
  --source-dir "$WINGMAN_SOURCE_DIR" \
  --wingman "$WINGMAN_BUILD_DIR/services/cli/wingman"
