"""Launchers: how a sweep's runs are started, behind one small protocol.

A :class:`Launcher` runs a list of resolved configurations, at most
``jobs`` at a time, and reports each run's outcome as it ends. ``local``
(:class:`LocalLauncher`) gives each run a process of its own on this
machine; ``ray`` (:class:`RayLauncher`) makes each a Ray task, on a local
instance or the cluster at ``ray_address``. :func:`launcher` picks one by
the ``launcher=`` name.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from .cli import Terminated, raise_terminated
from .config import ConfigError
from .experiment import run_experiment

#: prctl option: a signal for this process when its parent dies (Linux).
PR_SET_PDEATHSIG = 1

#: An outcome of one run: its directory, or the error that stopped it.
Outcome = tuple[str | None, str | None]


#: Called with a run's position in the launched list and its outcome.
Report = Callable[[int, Outcome], None]


class Launcher(Protocol):
    """Starts a sweep's runs."""

    def launch(self, configs: list[dict[str, Any]], jobs: int, report: Report) -> None:
        """Run :obj:`configs`, at most :obj:`jobs` at a time, calling
        :obj:`report` with each one's position and outcome as it ends.

        Args:
            configs (list[dict]): Resolved configurations, each with its
                ``out``.
            jobs (int): Runs at a time.
            report (Report): Called once per run.
        """


@dataclass(frozen=True)
class LocalLauncher:
    """Each run in a spawned process of its own on this machine, the cores
    shared out among :obj:`jobs` (:func:`threads_per_run`)."""

    def launch(self, configs: list[dict[str, Any]], jobs: int, report: Report) -> None:
        _launch_local(configs, jobs, report)


@dataclass(frozen=True)
class RayLauncher:
    """Each run a one-CPU Ray task (``pip install 'ergraph[ray]'``).

    Args:
        address (str, optional): A Ray cluster to join; none starts a local
            instance with :obj:`jobs` CPUs.
    """

    address: str | None = None

    def launch(self, configs: list[dict[str, Any]], jobs: int, report: Report) -> None:
        for position, outcome in enumerate(_launch_ray(configs, self.address, jobs)):
            report(position, outcome)


#: The launchers by ``launcher=`` name.
LAUNCHERS = ("local", "ray")


def launcher(name: str, ray_address: str | None = None) -> Launcher:
    """The launcher called :obj:`name`.

    Args:
        name (str): One of :data:`LAUNCHERS`.
        ray_address (str, optional): The Ray cluster, for ``ray``.

    Raises:
        ConfigError: An unknown name.
    """
    if name == "local":
        return LocalLauncher()
    if name == "ray":
        return RayLauncher(ray_address)
    raise ConfigError(f"unknown launcher {name!r}; choices: {', '.join(LAUNCHERS)}")


def _run_one(config: dict[str, Any], threads: int) -> str:
    """One experiment of a sweep, with its share of the cores; a sweep
    reports each run as it ends rather than echoing its epochs."""
    torch.set_num_threads(threads)
    return str(run_experiment(config, echo=None))


def threads_per_run(jobs: int) -> int:
    """Intra-op threads a local sweep gives each of its :obj:`jobs` runs:
    the cores shared out, so parallel runs do not contend for them."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _launch_local(configs: list[dict], jobs: int, report: Report) -> None:
    """Run :obj:`configs`, :obj:`jobs` at a time, calling :obj:`report`
    with each one's position and outcome as it ends.

    Each run has a spawned process of its own (clean whatever the parent
    did). Ctrl-C and SIGTERM reach this process, which then sends SIGTERM to
    its runs, so each removes its staging folder before it exits.
    """
    threads = threads_per_run(jobs)
    if jobs == 1:
        for position, config in enumerate(configs):
            report(position, _guard(_run_one, config, threads))
        return
    context = get_context("spawn")
    waiting = list(enumerate(configs))
    running: dict[int, tuple[Any, Connection]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                position, config = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_worker, args=(config, threads, send, os.getpid()),
                                          daemon=True)
                # Ignored SIGINT survives exec: a Ctrl-C while the worker starts
                # up reaches only this process, which relays it as SIGTERM.
                handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
                try:
                    process.start()
                finally:
                    signal.signal(signal.SIGINT, handler)
                send.close()
                running[position] = (process, receive)
            ready = wait([p.sentinel for p, _ in running.values()]
                         + [r for _, r in running.values()])
            for position, (process, receive) in list(running.items()):
                if receive in ready or process.sentinel in ready:
                    outcome = _receive(receive)
                    process.join()
                    if outcome is None:
                        outcome = (None, "the run's process died (exit code "
                                         f"{process.exitcode})")
                    receive.close()
                    del running[position]
                    report(position, outcome)
    finally:
        for process, _ in running.values():
            process.terminate()
        for process, receive in running.values():
            process.join()
            receive.close()


def _receive(receive: Connection) -> Outcome | None:
    """A worker's outcome, or None where it died before sending one (its
    end of the pipe closed: poll is true, recv meets the end of file)."""
    try:
        return receive.recv() if receive.poll() else None
    except EOFError:
        return None


def _worker(config: dict[str, Any], threads: int, send: Connection, parent: int) -> None:
    """A sweep run's process: Ctrl-C is left to the parent, which relays it
    as SIGTERM; SIGTERM unwinds the run, removing its staging folder. On
    Linux the kernel also sends SIGTERM if the parent dies, even by SIGKILL,
    so no orphan trains on holding its run's lock."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        _terminate_with_parent(parent)
        send.send(_guard(_run_one, config, threads))
    except Terminated:
        sys.exit(143)
    finally:
        send.close()


def _terminate_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request took effect
        raise Terminated


def _guard(fn, *args) -> Outcome:
    try:
        return fn(*args), None
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return None, f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def _launch_ray(configs: list[dict], address: str | None, jobs: int) -> list[Outcome]:
    try:
        import ray  # an optional extra
    except ImportError as exc:
        raise ConfigError("launcher=ray needs Ray: pip install 'ergraph[ray]'") from exc
    started = not ray.is_initialized()
    if started:
        # Ray workers must import this project; the working directory is
        # shipped only when it is not installed where the workers run.
        ray.init(address=address or None, num_cpus=None if address else jobs,
                 include_dashboard=False, log_to_driver=False)
    refs = []
    try:
        task = ray.remote(num_cpus=1)(_guard)
        refs = [task.remote(_run_one, c, 1) for c in configs]
        return ray.get(refs)
    except BaseException:
        for ref in refs:  # interrupts each run, which removes its staging folder
            ray.cancel(ref)
        raise
    finally:
        if started:
            ray.shutdown()
