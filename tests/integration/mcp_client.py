"""wingman-mcp driven by the official MCP Python SDK (the `mcp` package).

    mcp_client.py WINGMAN_MCP WINGMAN_CLI

Spawns the server over stdio as an MCP host would, lets the SDK negotiate
(it probes server/discover, then falls back to initialize), lists the tools
and calls each against the live pipeline (daemons started by test_mcp.sh).
Prints one "ok N - ..." line per check; any failure raises and exits 1.
"""

import asyncio
import json
import os
import re
import sys

from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

SERVER, CLI = sys.argv[1], sys.argv[2]
checks = 0


def ok(what):
    global checks
    checks += 1
    print(f"ok {checks} - {what}", flush=True)


def check(cond, what, detail=""):
    if not cond:
        raise SystemExit(f"FAIL: {what}: {detail}")
    ok(what)


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def main():
    params = StdioServerParameters(command=SERVER, args=[], env=dict(os.environ))
    async with Client(params) as client:
        check(client.protocol_version in ("2025-11-25", "2025-06-18"),
              "negotiated a current protocol revision", client.protocol_version)
        check(client.server_capabilities.tools is not None, "the server declares tools")

        tools = {t.name: t for t in (await client.list_tools()).tools}
        check(set(tools) == {"request_commands", "request_status", "allowed_commands"},
              "three tools listed", sorted(tools))
        for name, t in tools.items():
            schema = t.input_schema
            check(schema.get("type") == "object" and "properties" in schema,
                  f"{name} has an input schema", schema)
        check(tools["request_commands"].input_schema["required"] == ["commands", "instruction"],
              "request_commands requires commands and instruction")
        check(tools["allowed_commands"].annotations.read_only_hint is True
              and tools["request_commands"].annotations.read_only_hint is False,
              "annotations: the two lookups are read-only, request_commands is not")

        # allowed_commands: the grammar and the environment from the policy.
        r = await client.call_tool("allowed_commands", {"environment": "test"})
        sc = r.structured_content
        check(not r.is_error and sc["environments"][0]["name"] == "test", "allowed_commands test")
        check(sc["environments"][0]["containers"] == ["wingman-test-*"]
              and sc["environments"][0]["actions"]["inspect"] == "auto"
              and sc["environments"][0]["actions"]["restart"] == "human",
              "containers and modes come from the policy file", sc["environments"])
        check({c["action"] for c in sc["commands"]} ==
              {"ps", "inspect", "logs", "restart", "start", "stop", "exec"},
              "the grammar lists the seven actions")
        r = await client.call_tool("allowed_commands", {"environment": "nowhere"})
        check(r.is_error and "unknown environment" in text_of(r), "unknown environment is a tool error")

        # request_commands: an auto-approved inspect runs, with progress.
        progress = []

        async def on_progress(p, total, message):
            progress.append((p, message))

        r = await client.call_tool(
            "request_commands",
            {"environment": "test", "commands": ["docker inspect wingman-test-api"],
             "instruction": "MCP test: is the API up?"},
            progress_callback=on_progress)
        sc = r.structured_content
        check(not r.is_error and sc["status"] == "executed", "inspect executed", text_of(r))
        state = json.loads(sc["commands"][0]["output"])
        check(state["Name"] == "/wingman-test-api", "the result carries the container's state")
        check(text_of(r).startswith(f"Request {sc['request_id']}: EXECUTED"), "text says EXECUTED")
        check(sc["sig"]["kid"] == "executor", "the result is the executor-signed one")
        check(progress and "submitted" in progress[0][1], "a progress notification on submit", progress)
        executed_id = sc["request_id"]

        # An invalid command: the pipeline refuses it, the text says so.
        r = await client.call_tool(
            "request_commands",
            {"environment": "test", "commands": ["docker restart wingman-test-api; rm -rf /"],
             "instruction": "MCP test: invalid"})
        check(r.is_error and r.structured_content["status"] == "invalid", "invalid command", text_of(r))
        check("INVALID" in text_of(r) and "Nothing ran" in text_of(r)
              and "CMD_BAD_CHAR" in text_of(r), "invalid: clear text with the code", text_of(r))

        # Identity is configuration, not an argument.
        r = await client.call_tool(
            "request_commands",
            {"environment": "test", "commands": ["docker ps"], "instruction": "x",
             "worker_id": "agent-alice"})
        check(r.is_error and "configuration" in text_of(r), "worker_id from the model is refused")
        r = await client.call_tool("request_commands", {"environment": "test", "commands": "docker ps",
                                                        "instruction": "x"})
        check(r.is_error and "commands must be an array" in text_of(r), "bad arguments: a tool error")

        # A restart waits for a human: progress says so, the approval comes
        # from the CLI as bob, and the tool returns the executed result.
        approved = []

        async def approve_when_asked(p, total, message):
            progress.append((p, message))
            m = re.search(r"submitted ([0-9a-f-]{36})", message or "")
            if m:
                approved.append(m.group(1))
            if "waiting for human approval" in (message or "") and len(approved) == 1:
                approved.append("asked")
                proc = await asyncio.create_subprocess_exec(
                    CLI, "approve", approved[0], "--as", "bob", "--reason", "MCP test",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
                await proc.wait()

        progress.clear()
        r = await client.call_tool(
            "request_commands",
            {"environment": "test", "commands": ["docker restart wingman-test-api"],
             "instruction": "MCP test: restart after a human approves"},
            progress_callback=approve_when_asked)
        check(any("waiting for human approval" in (m or "") for _, m in progress),
              "progress told the client it waits for a human", progress)
        check(not r.is_error and r.structured_content["status"] == "executed",
              "approved restart executed", text_of(r))
        check(r.structured_content["request_id"] == approved[0], "the result is of that request")

        # request_status: a known result, and an unknown id.
        r = await client.call_tool("request_status", {"request_id": executed_id})
        check(not r.is_error and r.structured_content["status"] == "executed"
              and r.structured_content["request_id"] == executed_id, "request_status of a known id")
        r = await client.call_tool("request_status",
                                   {"request_id": "00000000-0000-4000-8000-000000000000"})
        check(not r.is_error and r.structured_content["status"] == "unknown"
              and "PENDING OR UNKNOWN" in text_of(r), "request_status of an unknown id")
        r = await client.call_tool("request_status", {"request_id": "../etc/passwd"})
        check(r.is_error, "request_status refuses a malformed id")

        try:
            await client.call_tool("no_such_tool", {})
            raise SystemExit("FAIL: an unknown tool was accepted")
        except MCPError as e:
            check(e.error.code == -32602, "unknown tool: JSON-RPC -32602", e.error)

        await client.send_ping()
        ok("ping answered")
    print(f"{checks} passed, 0 failed")


asyncio.run(main())
