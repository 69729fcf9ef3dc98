"""Drives `bts mcp` with the official MCP Python SDK, as an agent would: list the tools,
start an ad-hoc server, look at the stack, tail its log, stop it.

usage: mcp_client.py BTS PROBE_SERVER PORT   (run in the project directory)
"""
import asyncio
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def failed(result):
    # The attribute's name differs between SDK versions.
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


def text(result):
    return "".join(c.text for c in result.content if getattr(c, "text", None))


async def main(bts, server, port):
    params = StdioServerParameters(command=bts, args=["mcp"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            for want in ("start", "status", "tail", "stop", "wait", "approve"):
                assert want in tools, (want, tools)
            url = f"http://127.0.0.1:{port}/"
            started = await session.call_tool("start", {
                "name": "web", "cmd": server, "args": ["--port", port, "--say", "ready"],
                "ports": [int(port)], "health": {"http": url}, "wait": True,
            })
            assert not failed(started), text(started)
            assert "web: UP" in text(started), text(started)
            status = await session.call_tool("status", {})
            assert "web" in text(status), text(status)
            tail = await session.call_tool("tail", {"name": "web", "lines": 10})
            assert "log: .bts/logs/web.log" in text(tail), text(tail)
            stopped = await session.call_tool("stop", {"name": "web"})
            assert "log archived to" in text(stopped), text(stopped)
            bad = await session.call_tool("stop", {"name": "nope"})
            assert failed(bad), text(bad)
    print("python client: ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
