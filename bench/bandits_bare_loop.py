"""Bare seed-vectorised bandit loops beside the engine, on one device, in one run.

The reference ("bare") is the loop with nothing around it: per round the index (UCB1:
x_i + sqrt(2 ln n / n_i); Thompson sampling: one Beta draw per arm), an argmax, one
Bernoulli draw per seed, and the two scatter-adds (counts and sums, done as one kernel
on the two stacked). It draws from the same generators as the engine's problem and
algorithm, with the same kernels into the same kind of preallocated buffers, so both
produce the same trajectories: the regret check at the end must agree exactly for UCB1
and Thompson sampling alike, or the comparison is void.

The engine runs the same spec as `tradeoff run` does (engine.runner.execute, writing to a
temporary store), in three recording settings, to show where the time goes:

- store, auto stride: the default (about 90 dense and log-spaced checkpoints + 500 strided ones);
- store, log-spaced only: run.record_every = steps (about 90 checkpoints at 10^5 steps);
- no store: the algorithm's own loop with a recorder that computes and copies every
  checkpoint's values to the host as the engine's does but writes nothing (what base.py
  itself costs).

On a GPU the auto stride runs only if --modes asks for it: at 10^6 seeds each checkpoint
is 10^6 values per metric, and its ~590 checkpoints would put 9.4 GB into the store. Each
side first runs once for a few hundred steps, untimed, so that no timed run pays for
CUDA's one-off starts.

    python bench/bandits_bare_loop.py                      # CPU: 10^4 seeds
    python bench/bandits_bare_loop.py --device cuda        # GPU: 10^6 seeds
    python bench/bandits_bare_loop.py --algorithms ucb1 --steps 20000
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import registry, runner  # noqa: E402
from engine.labs.bandits.base import KeptArgmax  # noqa: E402
from engine.labs.bandits.problems import (  # noqa: E402
    UNIFORM_BLOCK_ROUNDS,
    UNIFORM_BLOCK_VALUES,
    BernoulliBandit,
    uniform_block,
)
from engine.labs.bandits.thompson import BetaPosterior  # noqa: E402
from engine.seeding import ALGORITHM_STREAM, PROBLEM_STREAM, generator  # noqa: E402
from engine.spec import RunSpec  # noqa: E402
from engine.store import Store  # noqa: E402

MEANS = [0.1 + 0.08 * i for i in range(10)]  # 10 arms, 0.1 ... 0.82
ALGORITHM_IDS = {"ucb1": "bandits.ucb1", "thompson": "bandits.thompson_beta"}
WARM_UP_STEPS = 300
LABELS = {
    "auto": "engine + store, auto stride",
    "log": "engine + store, log-spaced only",
    "none": "engine, no store writes",
}


def bare_loop(algorithm: str, seeds: int, steps: int, device: torch.device, dtype, seed: int = 0):
    """Return (seconds, pseudo-regret per seed [seeds] as float64 numpy).

    The kernels are the engine's (the same index, sampler, draw and update, into
    preallocated buffers, in inference mode), so the difference is what the engine adds.
    """
    k = len(MEANS)
    means = torch.tensor(MEANS, dtype=dtype, device=device)
    # counts and sums, stored arm by arm as UCB1's and Thompson sampling's are in the engine
    stats = torch.zeros((2, k, seeds), dtype=dtype, device=device)
    counts, sums = stats[0].t(), stats[1].t()
    increment = torch.ones((2, 1, seeds), dtype=dtype, device=device)  # 1 play, the reward
    rewards = increment[1, 0]
    arms = torch.zeros(seeds, dtype=torch.long, device=device)
    played = arms.view(1, 1, seeds).expand(2, 1, seeds)
    index = torch.empty_like(counts)
    index_argmax = KeptArgmax(index, arms)  # as UCB1 makes it once per run
    arm_means = torch.empty(seeds, dtype=dtype, device=device)
    rewards_gen = generator(device, seed, PROBLEM_STREAM)
    learner_gen = generator(device, seed, ALGORITHM_STREAM)
    posterior = BetaPosterior(counts, sums, 1.0, 1.0, learner_gen)
    theta_argmax = KeptArgmax(posterior.theta, arms)
    cpu = torch.device(device).type == "cpu"
    block_rounds = max(1, min(UNIFORM_BLOCK_ROUNDS, UNIFORM_BLOCK_VALUES // seeds))
    block, row = torch.empty((0, seeds), dtype=dtype), 0
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for t in range(1, steps + 1):
            if algorithm == "ucb1":
                if t <= k:
                    arms.fill_(t - 1)
                else:
                    # 1 / sqrt(n_i) + x_i / sqrt(2 ln n): the UCB1 index divided by sqrt(2 ln n)
                    torch.rsqrt(counts, out=index).addcdiv_(
                        sums, counts, value=1.0 / math.sqrt(2.0 * math.log(t - 1))
                    )
                    index_argmax()
            else:
                posterior.draw()  # into its kept buffers, as the engine's Thompson sampling does
                theta_argmax()
            if cpu:  # a block of rounds' uniforms at once, as BernoulliBandit.draw_uniforms does
                if row == len(block):
                    block, row = (
                        uniform_block((block_rounds, seeds), rewards_gen, dtype).unbind(0),
                        0,
                    )
                u, row = block[row], row + 1
            else:
                u = torch.rand(seeds, generator=rewards_gen, device=device, dtype=dtype)
            torch.lt(u, torch.index_select(means, 0, arms, out=arm_means), out=rewards)
            stats.scatter_add_(1, played, increment)
    _sync(device)
    seconds = time.perf_counter() - start
    means64 = torch.tensor(MEANS, dtype=torch.float64, device=device)
    return seconds, (counts.double() @ (means64.max() - means64)).cpu().numpy()


def engine_run(
    algorithm: str,
    seeds: int,
    steps: int,
    device: str,
    dtype: str,
    threads: int,
    record_every: int,
    store_dir: Path,
    seed: int = 0,
):
    """`tradeoff run` in this process: return (seconds, the store, the run id)."""
    spec = RunSpec.from_dict(
        {
            "run": {"seeds": seeds, "steps": steps, "seed": seed, "record_every": record_every},
            "algorithm": {"id": ALGORITHM_IDS[algorithm]},
            "problem": {"id": "bandits.bernoulli", "means": MEANS},
            "hardware": {"device": device, "threads": threads, "dtype": dtype},
        },
        registry.Catalogue.live(),
    )
    store = Store(store_dir / f"{algorithm}-{record_every}.db")
    start = time.perf_counter()
    run_id, status = runner.execute(spec, store, runner.prepare(spec))
    seconds = time.perf_counter() - start
    if status != "finished":
        raise SystemExit(f"engine run {status}: {store.get_run(run_id)['error']}")
    return seconds, store, run_id


class CheckpointsOnly:
    """A recorder that brings each checkpoint's values to the host as the engine's does
    (runner.HostCopies: on a GPU, copies that do not stop the device) and stores nothing."""

    def __init__(self, steps: int):
        self.checkpoints = runner.record_steps(steps)
        self.copies = runner.HostCopies()
        self.last = {}

    def metrics(self, step, values):
        self.copies.put(step, values)
        self.take()

    def take(self, wait=False):
        for _, values in self.copies.ready(wait):
            self.last = values

    def bound(self, name, steps, values):
        pass

    def progress(self, step):
        if len(self.copies):
            self.take()


def engine_without_store(
    algorithm: str, seeds: int, steps: int, device: torch.device, dtype, seed: int = 0
):
    problem = BernoulliBandit({"means": MEANS}, seeds, device, dtype, seed)
    cls = registry.algorithm(ALGORITHM_IDS[algorithm])
    params = {p.name: p.default for p in cls.params}
    alg = cls(params, problem, seeds, device, dtype, seed)
    rec = CheckpointsOnly(steps)
    _sync(device)
    start = time.perf_counter()
    alg.run(steps, rec)
    rec.take(wait=True)
    _sync(device)
    return time.perf_counter() - start, rec.last["cumulative_regret"]


def last_regret(store: Store, run_id: int, steps: int) -> np.ndarray:
    per_seed = store.series(run_id, "cumulative_regret")
    return np.array(
        [
            values[steps_at == steps][0]
            for seed, (steps_at, values) in sorted(per_seed.items())
            if seed >= 0
        ]
    )


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--seeds", type=int, default=0, help="default: 10^4 on a CPU, 10^6 on a GPU")
    ap.add_argument(
        "--steps", type=int, default=0, help="default: 10^5 for UCB1; Thompson sampling: --ts-steps"
    )
    ap.add_argument(
        "--ts-steps",
        type=int,
        default=0,
        help="steps for Thompson sampling (default: 2000 CPU, 10^4 GPU)",
    )
    ap.add_argument("--algorithms", default="ucb1,thompson")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads for both sides (0 = torch's default)",
    )
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument(
        "--repeats", type=int, default=3, help="alternate bare and engine runs this many times"
    )
    ap.add_argument(
        "--modes",
        default="",
        help="engine recording settings to run, of auto, log, none "
        "(default: all three on a CPU; on a GPU log,none)",
    )
    args = ap.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this machine has no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    seeds = args.seeds or (10**6 if cuda else 10**4)
    name = (
        torch.cuda.get_device_name(device)
        if cuda
        else f"CPU, {torch.get_num_threads()} torch threads"
    )
    print(
        f"device: {name}; seeds {seeds}; 10 Bernoulli arms; dtype {args.dtype}; torch {torch.__version__}"
    )
    print(
        f"{'algorithm':<9} {'side':<34} {'steps':>7} {'seconds':>8} {'pulls/s':>10} {'engine/bare':>11} "
        "regret (median of the runs; engine/bare per run against the bare runs around it)"
    )
    modes = (args.modes or ("log,none" if cuda else "auto,log,none")).split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm in args.algorithms.split(","):
            steps = args.steps or 10**5
            if algorithm == "thompson":
                steps = args.ts_steps or (10**4 if cuda else 2000)
            timings = {"bare": []}
            regrets = {}
            warm_up(algorithm, seeds, device, dtype, modes, args, Path(tmp))
            # Bare and engine alternate, so that a change in the machine's load hits both;
            # each engine time is compared with the mean of the bare runs around it.
            for repeat in range(args.repeats):
                bare_s, regrets["bare"] = bare_loop(algorithm, seeds, steps, device, dtype)
                timings["bare"].append(bare_s)
                _progress(algorithm, "bare", bare_s)
                for mode in modes:
                    if mode == "auto" and repeat > 0:
                        continue  # its store writes alone take a minute or more: once is enough
                    if mode == "none":
                        seconds, regret = engine_without_store(
                            algorithm, seeds, steps, device, dtype
                        )
                    else:
                        every = 0 if mode == "auto" else steps
                        seconds, store, run_id = engine_run(
                            algorithm,
                            seeds,
                            steps,
                            args.device,
                            args.dtype,
                            args.threads,
                            every,
                            Path(tmp),
                        )
                        regret = last_regret(store, run_id, steps)
                        store.close()
                    timings.setdefault(mode, []).append((seconds, repeat))
                    _progress(algorithm, mode, seconds)
                    regrets[mode] = regret
            bare_s, _ = bare_loop(algorithm, seeds, steps, device, dtype)
            timings["bare"].append(bare_s)
            _progress(algorithm, "bare", bare_s)
            bare = timings["bare"]
            pulls = seeds * steps
            print(
                f"{algorithm:<9} {'bare loop (reference)':<34} {steps:>7} {np.median(bare):>8.2f} "
                f"{pulls / np.median(bare):>10.3g} {'':>11} {regrets['bare'].mean():.2f}  "
                f"(runs: {', '.join(f'{b:.1f}' for b in bare)} s)"
            )
            for mode in modes:
                runs = timings[mode]
                ratios = [(bare[r] + bare[r + 1]) / 2 / seconds for seconds, r in runs]
                median_s = float(np.median([seconds for seconds, _ in runs]))
                same = (
                    "identical"
                    if np.array_equal(regrets[mode], regrets["bare"])
                    else (f"DIFFERS: {regrets[mode].mean():.3f}")
                )
                print(
                    f"{algorithm:<9} {LABELS[mode]:<34} {steps:>7} {median_s:>8.2f} {pulls / median_s:>10.3g} "
                    f"{float(np.median(ratios)):>10.0%} {regrets[mode].mean():.2f} ({same}; "
                    f"ratios {', '.join(f'{x:.0%}' for x in ratios)})"
                )
    return 0


def warm_up(
    algorithm: str, seeds: int, device, dtype, modes, args, tmp: Path, steps: int = WARM_UP_STEPS
) -> None:
    """One short untimed run of each side first, so that no timed run pays for a one-off
    start (CUDA's kernels and libraries load on first use; the first store opens)."""
    bare_loop(algorithm, seeds, steps, device, dtype)
    for mode in modes:
        if mode == "none":
            engine_without_store(algorithm, seeds, steps, device, dtype)
        else:
            engine_run(
                algorithm,
                seeds,
                steps,
                args.device,
                args.dtype,
                args.threads,
                0 if mode == "auto" else steps,
                tmp,
            )[1].close()


def _progress(algorithm: str, side: str, seconds: float) -> None:
    """Each run's time as it ends (stderr), so that a slow side shows before the table."""
    print(f"  {algorithm} {side}: {seconds:.2f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
