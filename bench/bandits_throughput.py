"""Arm pulls per second of UCB1 and Thompson sampling on a 10-armed Bernoulli bandit: the
engine beside MABWiser and a per-step, per-seed Python loop, in one run.

- engine: `tradeoff run` in this process (engine.runner.execute, recording to a temporary
  store at the default checkpoints), all seeds as one batch (default 1000 seeds x 10^5
  steps);
- python: the straightforward loop most research code is, one seed after another, one
  step at a time (for UCB1 plain Python lists, for Thompson sampling numpy's Beta sampler
  over the arms: the faster of the two styles for each, measured here);
- mabwiser: MABWiser's UCB1 (alpha = 1, i.e. x_i + sqrt(2 ln n / n_i)) and Thompson
  sampling, `predict` then `partial_fit` each step, seed after seed.

The peers are slower, so they run a subset of the seeds (--python-seeds, --mabwiser-seeds)
over the first --peer-steps steps. They are fed the very rewards the engine's problem drew
for those seeds (its uniforms, replayed), so UCB1 should follow the same trajectories;
Thompson sampling draws its own posterior samples, so there only the means compare. The
regret check compares the mean regret at --peer-steps on that common subset, engine
against peer, within 3 standard errors (else the comparison is void). Engine and peers
alternate --repeats times (default 3), so that the machine's load hits every side; each
rate is the median of its runs, each ratio the median of the per-repeat ratios. Peak
resident memory of the engine at 10^4 and 10^5 steps (fresh processes) shows that
nothing grows with the number of steps.

    python bench/bandits_throughput.py                 # the full comparison (several minutes)
    python bench/bandits_throughput.py --steps 20000   # quicker

MABWiser is a benchmark-only extra (`pip install mabwiser`); without it that column is
skipped.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import registry, runner  # noqa: E402
from engine.labs.bandits.problems import BernoulliBandit  # noqa: E402
from engine.spec import RunSpec  # noqa: E402
from engine.store import Store  # noqa: E402

MEANS = [0.1 + 0.08 * i for i in range(10)]
# The engine compares float32 uniforms with float32 means; the peers pay on the same test.
PAYING_MEANS = [float(np.float32(m)) for m in MEANS]
ALGORITHM_IDS = {"ucb1": "bandits.ucb1", "thompson": "bandits.thompson_beta"}


def spec_for(
    algorithm: str, seeds: int, steps: int, threads: int, dtype: str, seed: int = 0
) -> RunSpec:
    return RunSpec.from_dict(
        {
            "run": {"seeds": seeds, "steps": steps, "seed": seed},
            "algorithm": {"id": ALGORITHM_IDS[algorithm]},
            "problem": {"id": "bandits.bernoulli", "means": MEANS},
            "hardware": {"device": "cpu", "threads": threads, "dtype": dtype},
        },
        registry.Catalogue.live(),
    )


def engine_side(algorithm, seeds, steps, threads, dtype, peer_steps, store_dir):
    """Return (seconds, regret [seeds] at peer_steps) of `tradeoff run` on the spec."""
    spec = spec_for(algorithm, seeds, steps, threads, dtype)
    store = Store(store_dir / f"{algorithm}.db")
    start = time.perf_counter()
    run_id, status = runner.execute(spec, store, "cpu")
    seconds = time.perf_counter() - start
    if status != "finished":
        raise SystemExit(f"engine run {status}: {store.get_run(run_id)['error']}")
    per_seed = store.series(run_id, "cumulative_regret")
    at = [
        values[steps_at == peer_steps]
        for seed, (steps_at, values) in sorted(per_seed.items())
        if seed >= 0
    ]
    if any(len(v) == 0 for v in at):
        raise SystemExit(
            f"step {peer_steps} was not recorded; choose --peer-steps on the record stride"
        )
    store.close()
    return seconds, np.array([v[0] for v in at])


def replayed_uniforms(seeds: int, steps: int, subset: int, dtype: str) -> np.ndarray:
    """The engine problem's uniforms [steps, subset] for its first `subset` seeds."""
    problem = BernoulliBandit(
        {"means": MEANS}, seeds, torch.device("cpu"), getattr(torch, dtype), 0
    )
    return torch.stack([problem.draw_uniforms()[:subset] for _ in range(steps)]).double().numpy()


def python_ucb1(uniforms: list[float], means: list[float]) -> float:
    k, best, paying = len(means), max(means), PAYING_MEANS
    counts, sums, regret = [0] * k, [0.0] * k, 0.0
    for t, u in enumerate(uniforms, start=1):
        if t <= k:
            arm = t - 1
        else:
            scale, arm, top = 2.0 * math.log(t - 1), 0, -1.0
            for i in range(k):
                index = sums[i] / counts[i] + math.sqrt(scale / counts[i])
                if index > top:
                    top, arm = index, i
        counts[arm] += 1
        sums[arm] += 1.0 if u < paying[arm] else 0.0
        regret += best - means[arm]
    return regret


def python_thompson(uniforms: list[float], means: list[float], seed: int) -> float:
    rng = np.random.default_rng(seed)
    k, best = len(means), max(means)
    successes, failures, regret = np.zeros(k), np.zeros(k), 0.0
    for u in uniforms:
        arm = int(np.argmax(rng.beta(successes + 1, failures + 1)))
        if u < PAYING_MEANS[arm]:
            successes[arm] += 1
        else:
            failures[arm] += 1
        regret += best - means[arm]
    return regret


def mabwiser_run(algorithm: str, uniforms: list[float], means: list[float], seed: int) -> float:
    from mabwiser.mab import MAB, LearningPolicy

    k, best = len(means), max(means)
    policy = (
        LearningPolicy.UCB1(alpha=1.0) if algorithm == "ucb1" else LearningPolicy.ThompsonSampling()
    )
    mab = MAB(list(range(k)), policy, seed=seed)
    # The first K rounds play every arm once, as the engine's UCB1 does.
    first = [1.0 if uniforms[i] < PAYING_MEANS[i] else 0.0 for i in range(k)]
    mab.fit(decisions=np.arange(k), rewards=np.array(first))
    regret = sum(best - m for m in means)
    for u in uniforms[k:]:
        arm = mab.predict()
        mab.partial_fit(
            decisions=np.array([arm]), rewards=np.array([1.0 if u < PAYING_MEANS[arm] else 0.0])
        )
        regret += best - means[arm]
    return regret


def peer_side(name, algorithm, uniforms, means, subset):
    """Run a peer seed by seed; return (seconds, regrets [subset])."""
    regrets = []
    start = time.perf_counter()
    for s in range(subset):
        column = uniforms[:, s].tolist()
        if name == "python":
            regrets.append(
                python_ucb1(column, means)
                if algorithm == "ucb1"
                else python_thompson(column, means, s)
            )
        else:
            regrets.append(mabwiser_run(algorithm, column, means, s))
    return time.perf_counter() - start, np.array(regrets)


def regret_check(engine: np.ndarray, peer: np.ndarray, spread: float) -> str:
    """Means within 3 standard errors (per-seed spread from the engine's full batch)."""
    n = len(peer)
    tolerance = 3 * spread * math.sqrt(2 / n)
    diff = peer.mean() - engine[:n].mean()
    identical = int(np.sum(np.abs(engine[:n] - peer) < 1e-6))
    verdict = "agrees" if abs(diff) <= tolerance else "DISAGREES: comparison void"
    return (
        f"{verdict} (peer {peer.mean():.2f} vs engine {engine[:n].mean():.2f} on {n} seeds, "
        f"tolerance {tolerance:.2f}; identical seeds {identical}/{n})"
    )


def peak_memory(algorithm: str, seeds: int, steps: int, threads: int, dtype: str) -> float:
    """Peak resident memory (MiB) of a fresh process running the spec to a temporary store."""
    code = f"""
import resource, sys, tempfile, pathlib
sys.path.insert(0, {str(ROOT)!r})
sys.path.insert(0, {str(Path(__file__).parent)!r})
from bandits_throughput import spec_for
from engine import runner
from engine.store import Store
spec = spec_for({algorithm!r}, {seeds}, {steps}, {threads}, {dtype!r})
with tempfile.TemporaryDirectory() as tmp:
    store = Store(pathlib.Path(tmp) / "m.db")
    runner.execute(spec, store, "cpu")
    store.close()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument(
        "--peer-steps", type=int, default=10_000, help="horizon of the peers (a recorded step)"
    )
    ap.add_argument("--python-seeds", default="ucb1:20,thompson:10")
    ap.add_argument("--mabwiser-seeds", default="ucb1:30,thompson:12")
    ap.add_argument("--algorithms", default="ucb1,thompson")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads of the engine (default 1)"
    )
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    ap.add_argument(
        "--repeats", type=int, default=3, help="alternate engine and peer runs this many times"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    python_seeds = dict(
        (k, int(v)) for k, v in (item.split(":") for item in args.python_seeds.split(","))
    )
    mabwiser_seeds = dict(
        (k, int(v)) for k, v in (item.split(":") for item in args.mabwiser_seeds.split(","))
    )
    try:
        import mabwiser.mab  # noqa: F401  (imported here, so that no peer run is timed with it)

        mabwiser_version = importlib.metadata.version("mabwiser")
    except ImportError:
        mabwiser_version = None
    load = os.getloadavg()[0]
    print(
        f"CPU, {args.threads} torch thread(s), load average {load:.1f}; torch {torch.__version__}; "
        f"MABWiser {mabwiser_version or 'not installed'}; 10 Bernoulli arms; engine {args.seeds} seeds x "
        f"{args.steps} steps ({args.dtype}); peers {args.peer_steps} steps"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm in args.algorithms.split(","):
            peers = [("python", python_seeds.get(algorithm, 0))]
            if mabwiser_version:
                peers.append(("mabwiser", mabwiser_seeds.get(algorithm, 0)))
            peers = [(name, n) for name, n in peers if n > 0]
            uniforms = replayed_uniforms(
                args.seeds, args.peer_steps, max([n for _, n in peers], default=0), args.dtype
            )
            # Engine and peers alternate, so that a change in the machine's load hits all
            # sides; each ratio is the median over the repeats of engine rate / peer rate.
            runs, peer_regrets = {"engine": []}, {}
            for _ in range(args.repeats):
                seconds, regret = engine_side(
                    algorithm,
                    args.seeds,
                    args.steps,
                    args.threads,
                    args.dtype,
                    args.peer_steps,
                    Path(tmp),
                )
                runs["engine"].append(args.seeds * args.steps / seconds)
                for name, n in peers:
                    # Peers are deterministic given the replayed rewards: any run's regret serves.
                    peer_seconds, peer_regrets[name] = peer_side(
                        name, algorithm, uniforms, MEANS, n
                    )
                    runs.setdefault(name, []).append(n * args.peer_steps / peer_seconds)
            engine_rate = float(np.median(runs["engine"]))
            print(
                f"{algorithm:<9} engine    {args.seeds:>5} seeds {args.seeds * args.steps / engine_rate:8.1f} s "
                f"{engine_rate:10.3g} pulls/s  ({args.seeds * 1e6 / engine_rate:.0f} us a step; runs "
                f"{', '.join(f'{r:.3g}' for r in runs['engine'])})"
            )
            results.append(
                {
                    "algorithm": algorithm,
                    "side": "engine",
                    "seeds": args.seeds,
                    "steps": args.steps,
                    "pulls_per_s": engine_rate,
                    "runs": runs["engine"],
                }
            )
            spread = float(regret.std())
            for name, n in peers:
                rate = float(np.median(runs[name]))
                ratios = [e / p for e, p in zip(runs["engine"], runs[name])]
                check = regret_check(regret, peer_regrets[name], spread)
                print(
                    f"{algorithm:<9} {name:<9} {n:>5} seeds {n * args.peer_steps / rate:8.1f} s {rate:10.3g} pulls/s  "
                    f"engine/{name} = {float(np.median(ratios)):7.0f}x (runs {', '.join(f'{r:.0f}' for r in ratios)})"
                    f"  regret {check}"
                )
                results.append(
                    {
                        "algorithm": algorithm,
                        "side": name,
                        "seeds": n,
                        "steps": args.peer_steps,
                        "pulls_per_s": rate,
                        "ratio": float(np.median(ratios)),
                        "ratios": ratios,
                        "regret_check": check,
                    }
                )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if not args.no_memory:
        # The loop and its recording are the same for every learner: UCB1 is the quick one.
        small = peak_memory("ucb1", args.seeds, args.steps // 10, args.threads, args.dtype)
        large = peak_memory("ucb1", args.seeds, args.steps, args.threads, args.dtype)
        print(
            f"ucb1      peak RSS of the engine process: {small:.0f} MiB at {args.steps // 10} steps, "
            f"{large:.0f} MiB at {args.steps} steps ({args.seeds} seeds)"
        )
        results.append(
            {"algorithm": "ucb1", "side": "memory", "small_mib": small, "large_mib": large}
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
