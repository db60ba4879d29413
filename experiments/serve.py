"""Serve a causal checkpoint to many live dialogues over HTTP and WebSocket:
``python experiments/serve.py checkpoint=RUN/checkpoint.pt port=8000``

Needs ``pip install 'ergraph[serve]'`` (FastAPI and uvicorn). The API is
described in ``docs/serving.md``, and served as an OpenAPI schema at
``/openapi.json`` (browsable at ``/docs``); ``/`` is a page to try it.
Non-causal checkpoints are refused. Pushes of different sessions that
arrive together are stepped as one batch (``max_batch=1``: one by one).
``threads=N`` sets torch's intra-op threads (default 1, as stream.py). Text
pushes are embedded with the sentence encoder the checkpoint names
(``pip install 'ergraph[text]'``), or ``text_encoder=NAME`` where its
corpus recorded none. The server listens on ``host`` (default
127.0.0.1, this machine only) until Ctrl-C or SIGTERM; exit code 0 then, 2
on bad arguments.

``backend=ray`` serves the same API from a Ray Serve application
(``pip install 'ergraph[serve,ray-serve]'``): an ingress and
``replicas`` session replicas, each with its own copy of the model and
``threads`` CPUs, a session's pushes always reaching the replica that holds
it; ``max_sessions`` is per replica. It starts a local Ray instance, or
joins the cluster at ``ray_address``; see ``docs/serving.md``.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch

from runner.cli import (Arguments, Command, Option, Terminated, main as run_command,
                             raise_terminated)
from runner.options import AT_LEAST_ONE, Range
from serving import Engine, ServeConfig, port_problem

INSTALL_HINT = "pip install 'ergraph[serve]'"
RAY_INSTALL_HINT = "pip install 'ergraph[serve,ray-serve]'"
BACKENDS = ("local", "ray")

COMMAND = Command(
    prog="serve.py",
    summary="Serve a causal checkpoint to live dialogues over HTTP and WebSocket.",
    options=(
        Option("checkpoint", Path, help="a causal run's checkpoint.pt", required=True),
        Option("host", str, "127.0.0.1", "the address to listen on"),
        Option("port", int, 8000, "the port to listen on", range=Range(0, 65535)),
        Option("idle_seconds", float, ServeConfig.idle_seconds,
               "close a session idle this long", range=Range(0, None, low_open=True)),
        Option("max_sessions", int, ServeConfig.max_sessions, "live sessions at most", range=AT_LEAST_ONE),
        Option("max_turns", int, 1000, "turns per session at most", range=AT_LEAST_ONE),
        Option("max_batch", int, ServeConfig.max_batch,
               "pushes of different sessions stepped together at most", range=AT_LEAST_ONE),
        Option("max_body", int, ServeConfig.max_body,
               "bytes of a request body or WebSocket message at most", range=AT_LEAST_ONE),
        Option("threads", int, 1, "torch intra-op threads (per replica with backend=ray)", range=AT_LEAST_ONE),
        Option("backend", str, "local", "local: this process; ray: Ray Serve replicas"),
        Option("replicas", int, 2, "backend=ray: session replicas", range=AT_LEAST_ONE),
        Option("ray_address", str | None, None,
               "backend=ray: a running Ray cluster to join (default: start a local one)"),
        Option("text_encoder", str | None, None,
               "the sentence-transformers model that embeds text, for a checkpoint "
               "whose corpus did not record one (overrides the recorded one)"),
    ),
    details=__doc__.split("\n\n", 1)[1])


class ServeError(ValueError):
    """Arguments the server cannot start with."""


def main(argv: list[str] | None = None) -> int:
    """Run the server; see the module docstring."""
    def serve(arguments: Arguments) -> int:
        args = arguments.options
        if args["backend"] not in BACKENDS:
            raise ServeError(f"backend={args['backend']!r}: expected one of "
                             f"{', '.join(BACKENDS)}")
        problem = port_problem(args["host"], args["port"])
        if problem is not None:
            raise ServeError(f"cannot listen on host={args['host']} port={args['port']}: "
                             f"{problem}")
        try:  # an optional extra: only the server needs it
            import uvicorn
            from serving.app import create_app
        except ImportError as error:
            raise ImportError(f"serving needs FastAPI and uvicorn ({error}): "
                              f"{INSTALL_HINT}") from None
        config = ServeConfig(max_sessions=args["max_sessions"],
                             idle_seconds=args["idle_seconds"],
                             max_batch=args["max_batch"], max_body=args["max_body"])
        if args["backend"] == "ray":
            return serve_on_ray(args, config)
        # A push is a chain of small ops: one thread gives the steadiest
        # latency (see stream.py).
        torch.set_num_threads(args["threads"])
        engine = Engine.from_checkpoint(args["checkpoint"], max_turns=args["max_turns"],
                                        encoder_name=args["text_encoder"])
        if "text" in engine.modalities and engine.encoder_name:
            try:  # load it now, not on the first text push
                engine.text_encoder
            except ImportError as error:
                print(f"serve.py: warning: text pushes will be refused: {error}",
                      file=sys.stderr)
        app = create_app(engine, config)
        print(f"serve.py: {args['checkpoint']} on http://{args['host']}:{args['port']} "
              "(API at /docs, a page to try it at /)", file=sys.stderr, flush=True)
        try:
            uvicorn.run(app, host=args["host"], port=args["port"], log_level="warning",
                        # Our own check answers a message over max_body with a
                        # 413; far larger ones uvicorn drops with the socket.
                        ws_max_size=4 * config.max_body)
        except (KeyboardInterrupt, Terminated):
            # How a server is stopped; uvicorn has shut down gracefully and
            # passes the signal on.
            pass
        return 0

    return run_command(COMMAND, serve, argv, errors=(ServeError, ImportError, ValueError))


def serve_on_ray(args: dict, config: ServeConfig) -> int:
    """Run the API as a Ray Serve application until Ctrl-C or SIGTERM."""
    try:
        import ray
        from ray import serve
        from serving.ray_app import APP_NAME, application
    except ImportError as error:
        raise ImportError(f"backend=ray needs Ray Serve ({error}): {RAY_INSTALL_HINT}") from None
    replicas, threads = args["replicas"], args["threads"]
    checkpoint = str(Path(args["checkpoint"]).resolve())
    # Refuses replicas < 1 and a non-causal checkpoint before Ray starts.
    app = application(checkpoint, config, replicas=replicas, max_turns=args["max_turns"],
                      threads=threads, encoder_name=args["text_encoder"])
    cpus = os.cpu_count() or 1
    if args["ray_address"] is None and replicas * threads > cpus:
        # Ray would wait for CPUs that never come.
        raise ServeError(f"replicas={replicas} with threads={threads} reserve "
                         f"{replicas * threads} CPUs; this machine has {cpus}")
    cluster = ray.init(address=args["ray_address"], include_dashboard=False)
    if threading.current_thread() is threading.main_thread():
        # Ray's driver takes SIGTERM for a crash report and aborts; a
        # server stops on it.
        signal.signal(signal.SIGTERM, raise_terminated)
    try:
        serve.start(http_options={"host": args["host"], "port": args["port"]})
        serve.run(app, name=APP_NAME, route_prefix="/")
        print(f"serve.py: {args['checkpoint']} on http://{args['host']}:{args['port']}, "
              f"{replicas} Ray Serve session replicas (API at /docs, a page to try it "
              f"at /; Ray at {cluster.address_info['address']})", file=sys.stderr,
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except (KeyboardInterrupt, Terminated):
            pass
        serve.shutdown()
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
