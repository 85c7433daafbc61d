"""The (1,λ) EA and the (1+λ) EA on OneMax with planted optima of random height (DisOM)."""

from __future__ import annotations

import torch

from engine.params import Param, ParamError
from engine.registry import Algorithm, Problem
from engine.seeding import ALGORITHM_STREAM, PROBLEM_STREAM, generator

PAPER = "Plus Strategies are Exponentially Slower for Planted Optima of Random Height"
MAX_BITS = 4096  # the point's key (a sum of n weights below 2^40) stays an exact float64
_MASK32 = 0xFFFFFFFF
# Salts that make the planted draw and the height draw two different functions of a point.
_PLANTED, _HEIGHT = 0x9E3779B9, 0x7F4A7C15


def _mul32(a: torch.Tensor, c: int) -> torch.Tensor:
    """a * c mod 2^32 for int64 a in [0, 2^32): in 16-bit halves of c, so that no product
    leaves the int64 range."""
    high = ((a * (c >> 16)) & 0xFFFF) << 16
    return (high + a * (c & 0xFFFF)) & _MASK32


def mix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finaliser on int64 values in [0, 2^32): every output bit depends
    on every input bit, so neighbouring points get unrelated draws."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def onemax(bits: torch.Tensor) -> torch.Tensor:
    """OM(x) = number of ones, over the last dimension, as float64."""
    return bits.sum(-1, dtype=torch.float64)


def mutate(parent: torch.Tensor, uniforms: torch.Tensor, rate: float) -> torch.Tensor:
    """Standard bit mutation: offspring [seeds, λ, n] = parent [seeds, n] with bit i flipped
    where uniforms [seeds, λ, n] < rate (each bit independently with probability rate)."""
    return parent.unsqueeze(1) ^ (uniforms < rate)


def select(parent, parent_fitness, offspring, offspring_fitness, tie_keys, plus: bool):
    """One selection for every seed: the offspring of highest fitness, ties broken by the
    highest tie key (uniform: ties broken uniformly at random); in the plus strategy it
    replaces the parent only if its fitness is at least the parent's. Returns the new
    parent [seeds, n], its fitness [seeds] and whether an offspring was taken [seeds]."""
    best_fitness = offspring_fitness.max(1, keepdim=True).values
    keys = torch.where(offspring_fitness == best_fitness, tie_keys, -1.0)
    best = keys.argmax(1)
    rows = torch.arange(offspring.shape[0], device=offspring.device)
    chosen, chosen_fitness = offspring[rows, best], offspring_fitness[rows, best]
    if not plus:
        return chosen, chosen_fitness, torch.ones_like(chosen_fitness, dtype=torch.bool)
    take = chosen_fitness >= parent_fitness
    return (
        torch.where(take.unsqueeze(1), chosen, parent),
        torch.where(take, chosen_fitness, parent_fitness),
        take,
    )


class DistortedOneMax(Problem):
    """DisOM with random heights: OneMax with randomly planted local optima, as in "Plus
    Strategies are Exponentially Slower for Planted Optima of Random Height" (Lengler,
    Schiller & Sieberling, GECCO 2024).

    Every point x of {0,1}^n is, independently with probability p, distorted; a distorted
    point's fitness is raised by a height D_x drawn from the distortion distribution 𝒟:

        f(x) = OM(x) + D_x   if x is distorted,    f(x) = OM(x)   otherwise.

    The noise is frozen: a point has the same fitness every time it is evaluated. 𝒟 is a
    constant `height` (the DisOM of earlier work, all optima of the same relative height)
    or exponential with mean `height` (random heights). Each seed of a run has a landscape
    of its own, generated from the run's seed.

    Departure: a memo table of independent draws per visited point would grow with the
    run; here a point's two draws (distorted or not, and its height) are a fixed function
    of the point and its seed's salt: the key Σ_i x_i w_i (weights w_i < 2^40 drawn from
    the seed) mixed by MurmurHash3's finaliser, a pseudo-random function of the point.
    """

    id = "evolution.distorted_onemax"
    family = "evolution"
    title = PAPER
    summary = "OneMax with local optima planted at random points, each raised by a random height."
    params = (
        Param("n", "int", 100, "Length n of the bit strings.", low=2, high=MAX_BITS),
        Param(
            "distortion_probability",
            "float",
            0.05,
            "Probability p that a point is a planted optimum (0: plain OneMax).",
            low=0.0,
            high=1.0,
        ),
        Param(
            "heights",
            "choice",
            "exponential",
            "Distribution 𝒟 of the heights: constant (= height) or exponential (mean height).",
            choices=("constant", "exponential"),
        ),
        Param("height", "float", 2.0, "The height, or the mean height.", low=0.0, high=1e6),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.n = params["n"]
        gen = generator(device, seed, PROBLEM_STREAM)
        self.weights = torch.randint(
            0, 2**40, (self.n,), generator=gen, device=device, dtype=torch.int64
        ).to(torch.float64)
        self.salts = torch.randint(
            0, 2**32, (seeds,), generator=gen, device=device, dtype=torch.int64
        )

    def draws(self, bits: torch.Tensor, salt: int) -> torch.Tensor:
        """A uniform in (0, 1) for every point of bits [seeds, ..., n], a fixed function of
        the point, its seed and `salt`."""
        key = (bits.to(torch.float64) @ self.weights).to(torch.int64)  # exact below 2^52
        salts = self.salts.view(-1, *([1] * (key.dim() - 1)))
        h = mix32(mix32((key & _MASK32) ^ salts) ^ (key >> 32))
        h = mix32(h ^ salt)
        return (h.to(torch.float64) + 0.5) / 2**32

    def distortion(self, bits: torch.Tensor) -> torch.Tensor:
        """D_x where x is distorted, else 0, for every point of bits [seeds, ..., n]."""
        p = self.p["distortion_probability"]
        if p == 0:
            return torch.zeros(bits.shape[:-1], dtype=torch.float64, device=bits.device)
        planted = self.draws(bits, _PLANTED) < p
        if self.p["heights"] == "constant":
            height = torch.full(planted.shape, self.p["height"], dtype=torch.float64)
        else:  # inverse CDF of the exponential; the draw lies in (0, 1), so the log is finite
            height = -self.p["height"] * torch.log1p(-self.draws(bits, _HEIGHT))
        return torch.where(planted, height.to(bits.device), 0.0)

    def fitness(self, bits: torch.Tensor) -> torch.Tensor:
        return onemax(bits) + self.distortion(bits)


class CommaPlusEA(Algorithm):
    """The (1,λ) EA and the (1+λ) EA, as compared in "Plus Strategies are Exponentially
    Slower for Planted Optima of Random Height" (Lengler, Schiller & Sieberling, GECCO
    2024), on DisOM.

    Start from x_0 uniform in {0,1}^n. Generation t: create λ offspring y_1 … y_λ of x_t
    by standard bit mutation (each bit flipped independently with probability χ/n) and
    evaluate them; y* is one of highest fitness (ties broken uniformly at random). Then

        (1,λ) EA (comma):  x_{t+1} = y*                                   (non-elitist)
        (1+λ) EA (plus):   x_{t+1} = y* if f(y*) ≥ f(x_t), else x_t       (elitist)

    The paper's result: on DisOM whose heights vary at random, the plus strategy climbs
    onto ever higher planted optima near the top and needs super-polynomial time, while
    the comma strategy (with λ in its efficient range, about log_{e/(e−1)} n ≤ λ) leaves
    local optima and reaches the target in time about that on OneMax.

    The runtime T is the number of fitness evaluations (x_0 counts as one, each generation
    λ) until a point with OM(x) ≥ n − `target_distance` is evaluated, counted at the end of
    that generation. One run step is one generation. Metrics: `distance_to_optimum`
    n − OM(x_t) and `fitness` f(x_t) of the parent; `reached_target` (1 once the target was
    evaluated: its mean over seeds is the empirical distribution function of the runtime
    in generations); `evaluations` min(T, evaluations so far), the runtime where the target
    was reached and a lower bound of it elsewhere.

    Choices of this implementation: the plus strategy keeps an offspring that ties with
    its parent (≥), the usual convention; runs go on after the target is reached.
    """

    id = "evolution.comma_plus_ea"
    family = "evolution"
    paper = PAPER
    summary = "(1,λ) EA or (1+λ) EA by standard bit mutation; runtime to the optimum of DisOM."
    params = (
        Param(
            "selection",
            "choice",
            "comma",
            "comma: (1,λ), the best offspring replaces the parent; plus: (1+λ), only if not worse.",
            choices=("comma", "plus"),
        ),
        Param("offspring", "int", 12, "Offspring λ per generation.", low=1, high=100_000),
        Param(
            "mutation_rate",
            "float",
            1.0,
            "χ: each bit flips with probability χ/n (χ at most n).",
            low=0.0,
            low_open=True,
            high=float(MAX_BITS),
        ),
        Param(
            "target_distance",
            "int",
            0,
            "k*: the target is OM(x) ≥ n − k* (0: the optimum; k* at most n).",
            low=0,
            high=MAX_BITS,
        ),
    )
    problems = ("evolution.distorted_onemax",)
    plot = "curves"
    metrics = ("distance_to_optimum", "fitness", "reached_target", "evaluations")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        n = problem.n
        for name in ("mutation_rate", "target_distance"):
            if params[name] > n:
                raise ParamError(
                    f"algorithm.{name}", f"must be at most problem.n ({n}), got {params[name]}"
                )
        self.gen = generator(device, seed, ALGORITHM_STREAM)
        self.rate = params["mutation_rate"] / n

    def run(self, steps, rec):
        prob, s, lam, n = self.problem, self.seeds, self.p["offspring"], self.problem.n
        plus = self.p["selection"] == "plus"
        target = n - self.p["target_distance"]
        dev = self.device
        x = torch.rand((s, n), generator=self.gen, device=dev) < 0.5
        fx = prob.fitness(x)
        reached = onemax(x) >= target
        runtime = torch.where(reached, 1.0, torch.inf).to(torch.float64)
        with torch.inference_mode():
            for t in range(1, steps + 1):
                uniforms = torch.rand((s, lam, n), generator=self.gen, device=dev, dtype=self.dtype)
                y = mutate(x, uniforms, self.rate)
                tie_keys = torch.rand((s, lam), generator=self.gen, device=dev, dtype=torch.float64)
                x, fx, _ = select(x, fx, y, prob.fitness(y), tie_keys, plus)
                evaluations = 1.0 + lam * t
                hit = (onemax(y) >= target).any(1) & ~reached
                runtime = torch.where(hit, evaluations, runtime)
                reached = reached | hit
                if rec.should_record(t):
                    rec.metrics(
                        t,
                        {
                            "distance_to_optimum": n - onemax(x),
                            "fitness": fx,
                            "reached_target": reached.to(torch.float64),
                            "evaluations": runtime.clamp(max=evaluations),
                        },
                    )
                rec.progress(t)
