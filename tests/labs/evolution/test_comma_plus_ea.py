"""The (1,λ) and (1+λ) EAs and DisOM against reference values: a generation computed by
hand on the run's own draws, the selection rules, the frozen landscape's rates, elitism,
and the exact expected runtime on OneMax from its Markov chain."""

import math

import numpy as np
import pytest
import torch

from engine.labs.evolution.comma_plus_ea import (
    CommaPlusEA,
    DistortedOneMax,
    mutate,
    onemax,
    select,
)
from engine.params import ParamError
from engine.seeding import ALGORITHM_STREAM, generator

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Batches of a few thousand bits: on a busy 2-core machine a second OpenMP thread
    turns each elementwise kernel from microseconds into milliseconds."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class Recorder:
    """Keeps the metrics recorded at chosen checkpoints."""

    def __init__(self, checkpoints):
        self.checkpoints = np.asarray(checkpoints)
        self._at = set(self.checkpoints.tolist())
        self.values = {}

    def should_record(self, t):
        return t in self._at

    def metrics(self, t, values):
        self.values[t] = {k: np.asarray(v, dtype=float).copy() for k, v in values.items()}

    def progress(self, t):
        pass

    def series(self, metric):
        """[checkpoints, seeds] of one metric."""
        return np.stack([self.values[t][metric] for t in sorted(self.values)])


def problem(seeds, n=8, p=0.0, heights="exponential", height=2.0, seed=0):
    params = {"n": n, "distortion_probability": p, "heights": heights, "height": height}
    return DistortedOneMax(params, seeds, CPU, torch.float64, seed)


def run(prob, selection, offspring, steps, checkpoints=None, chi=1.0, target=0, seed=0):
    params = {
        "selection": selection,
        "offspring": offspring,
        "mutation_rate": chi,
        "target_distance": target,
    }
    alg = CommaPlusEA(params, prob, prob.seeds, CPU, torch.float64, seed)
    rec = Recorder(checkpoints or [steps])
    alg.run(steps, rec)
    return rec


# -- one generation -------------------------------------------------------------------------
def test_mutation_flips_the_bits_whose_uniform_is_below_the_rate():
    parent = torch.tensor([[True, False, True, True, False]])
    uniforms = torch.tensor([[[0.05, 0.5, 0.9, 0.19, 0.3], [0.2, 0.0, 0.99, 0.21, 0.1]]])
    children = mutate(parent, uniforms, 1 / 5)  # χ = 1, n = 5: rate 0.2, strictly below
    assert children.tolist() == [
        [[False, False, True, False, False], [True, True, True, True, True]]
    ]


def test_selection_by_hand_comma_takes_the_best_offspring_plus_only_if_not_worse():
    parent = torch.tensor([[True, True, False], [False, False, False]])
    offspring = torch.tensor(
        [
            [[True, False, False], [False, True, True], [True, True, True]],
            [[True, False, False], [False, True, False], [False, False, True]],
        ]
    )
    # seed 0: the parent (5.0) beats every offspring; seed 1: the last two tie at 1.0 and
    # the higher tie key (0.9, the third) wins
    parent_fitness = torch.tensor([5.0, 0.0], dtype=torch.float64)
    fitness = torch.tensor([[1.0, 4.5, 3.0], [0.5, 1.0, 1.0]], dtype=torch.float64)
    keys = torch.tensor([[0.1, 0.2, 0.3], [0.99, 0.4, 0.9]], dtype=torch.float64)
    x, fx, took = select(parent, parent_fitness, offspring, fitness, keys, plus=False)
    assert x.tolist() == [[False, True, True], [False, False, True]]
    assert fx.tolist() == [4.5, 1.0] and took.tolist() == [True, True]
    x, fx, took = select(parent, parent_fitness, offspring, fitness, keys, plus=True)
    assert x.tolist() == [[True, True, False], [False, False, True]]
    assert fx.tolist() == [5.0, 1.0] and took.tolist() == [False, True]
    # a tie with the parent goes to the offspring in the plus strategy
    _, _, took = select(parent, torch.tensor([4.5, 1.0]), offspring, fitness, keys, plus=True)
    assert took.tolist() == [True, True]


@pytest.mark.parametrize("selection", ["comma", "plus"])
def test_first_generation_by_hand_on_the_runs_own_draws(selection):
    """n = 6, λ = 3, χ = 2 (rate 1/3) on OneMax: replay the algorithm stream (x_0, then the
    mutation uniforms, then the tie keys) and select in plain Python."""
    seeds, n, lam, rate = 5, 6, 3, 2 / 6
    rec = run(problem(seeds, n=n), selection, lam, 1, [1], chi=2.0, seed=7)
    gen = generator(CPU, 7, ALGORITHM_STREAM)
    x0 = (torch.rand((seeds, n), generator=gen) < 0.5).tolist()
    uniforms = torch.rand((seeds, lam, n), generator=gen, dtype=torch.float64).tolist()
    keys = torch.rand((seeds, lam), generator=gen, dtype=torch.float64).tolist()
    for s in range(seeds):
        children = [[b ^ (u < rate) for b, u in zip(x0[s], uniforms[s][j])] for j in range(lam)]
        ones = [sum(c) for c in children]
        best = max(range(lam), key=lambda j, ones=ones: (ones[j], keys[s][j]))
        new = ones[best] if selection == "comma" or ones[best] >= sum(x0[s]) else sum(x0[s])
        assert rec.values[1]["fitness"][s] == new
        assert rec.values[1]["distance_to_optimum"][s] == n - new
        hit = sum(x0[s]) == n or max(ones) == n
        assert rec.values[1]["reached_target"][s] == float(hit)
        assert rec.values[1]["evaluations"][s] == (1 if sum(x0[s]) == n else 1 + lam)


# -- the landscape --------------------------------------------------------------------------
def random_points(seeds, count, n, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((seeds, count, n), generator=gen) < 0.5


def test_landscape_is_frozen_whatever_the_batch():
    prob = problem(2, n=40, p=0.3)
    points = random_points(2, 500, 40)
    first = prob.fitness(points)
    np.testing.assert_array_equal(prob.fitness(points), first)
    # the same points in another order and another batch shape: the same values
    order = torch.randperm(500, generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(prob.fitness(points[:, order]), first[:, order])
    np.testing.assert_array_equal(prob.fitness(points[:, :7].unsqueeze(2))[..., 0], first[:, :7])
    # the same base seed builds the same landscapes; another builds others
    np.testing.assert_array_equal(problem(2, n=40, p=0.3).fitness(points), first)
    assert not torch.equal(problem(2, n=40, p=0.3, seed=1).fitness(points), first)


def test_planted_points_have_rate_p_independently_of_their_neighbours():
    """Over 40000 points: planted with probability p (binomial, 4 standard errors); a point
    and its neighbour with bit 0 flipped both planted with probability p²; exponential
    heights have mean `height`."""
    p, count, n = 0.2, 20_000, 64
    prob = problem(2, n=n, p=p, heights="exponential", height=3.0)
    points = random_points(2, count, n)
    distortion = prob.distortion(points)
    planted = distortion > 0
    total = planted.numel()
    assert abs(planted.double().mean().item() - p) < 4 * math.sqrt(p * (1 - p) / total)
    neighbours = points.clone()
    neighbours[..., 0] ^= True
    both = (planted & (prob.distortion(neighbours) > 0)).double().mean().item()
    assert abs(both - p * p) < 4 * math.sqrt(p * p * (1 - p * p) / total)
    heights = distortion[planted]
    assert abs(heights.mean().item() - 3.0) < 4 * 3.0 / math.sqrt(heights.numel())
    # each seed has a landscape of its own: the same points planted apart
    agree = (planted[0] == planted[1]).double().mean().item()
    expected = 1 - 2 * p * (1 - p)
    assert abs(agree - expected) < 4 * math.sqrt(expected * (1 - expected) / count)


def test_constant_heights_and_plain_onemax():
    points = random_points(2, 2000, 30)
    constant = problem(2, n=30, p=0.5, heights="constant", height=1.5).distortion(points)
    assert set(constant.unique().tolist()) == {0.0, 1.5}
    np.testing.assert_array_equal(problem(2, n=30, p=0.0).fitness(points), onemax(points))


# -- elitism --------------------------------------------------------------------------------
def test_plus_never_lowers_the_fitness_and_comma_does():
    steps = 300
    prob = problem(20, n=30, p=0.05, heights="exponential", height=2.0)
    plus = run(prob, "plus", 2, steps, list(range(1, steps + 1))).series("fitness")
    comma = run(prob, "comma", 2, steps, list(range(1, steps + 1))).series("fitness")
    assert (np.diff(plus, axis=0) >= 0).all()
    assert (np.diff(comma, axis=0) < 0).any(axis=0).all()  # every seed loses fitness at times


# -- the runtime on OneMax --------------------------------------------------------------------
def offspring_onemax_cdf(n: int, rate: float) -> np.ndarray:
    """F[i, j] = P(OM(y) <= j) for an offspring y of a parent with i ones, by standard bit
    mutation: OM(y) = i - A + B with A ~ Bin(i, rate), B ~ Bin(n - i, rate)."""

    def binomial(m):
        return np.array([math.comb(m, k) * rate**k * (1 - rate) ** (m - k) for k in range(m + 1)])

    cdf = np.zeros((n + 1, n + 1))
    for i in range(n + 1):
        pmf = np.zeros(n + 1)
        lost, gained = binomial(i), binomial(n - i)
        for a, pa in enumerate(lost):
            pmf[i - a : i - a + n - i + 1] += pa * gained
        cdf[i] = np.cumsum(pmf)
    return cdf


def exact_expected_runtime(n: int, lam: int, chi: float, plus: bool) -> float:
    """E[T] in evaluations on OneMax (p = 0): the number of ones is a Markov chain, the best
    of λ offspring has OM <= j with probability F(j)^λ (plus: the parent's i is kept when
    no offspring reaches it). Hitting times of n solve (I - Q) h = 1 over i < n; x_0 has
    Bin(n, 1/2) ones; T = 1 + λ (generations)."""
    cdf = offspring_onemax_cdf(n, chi / n) ** lam
    transition = np.diff(np.concatenate([np.zeros((n + 1, 1)), cdf], axis=1), axis=1)
    if plus:
        for i in range(n + 1):
            transition[i, i] = cdf[i, i]
            transition[i, :i] = 0.0
    q = transition[:n, :n]
    generations = np.linalg.solve(np.eye(n) - q, np.ones(n))
    start = np.array([math.comb(n, i) / 2**n for i in range(n)])
    return 1 + lam * float(start @ generations)


def test_exact_runtime_of_the_one_plus_one_ea_is_within_the_fitness_level_bound():
    """The reference itself: the (1+1) EA's E[T] on OneMax lies below e n H_n + 1, the
    fitness-level bound, and above (n / e) ln(n / 2), and (1+λ) with more offspring takes
    fewer generations."""
    for n in (10, 30, 60):
        exact = exact_expected_runtime(n, 1, 1.0, plus=True)
        harmonic = sum(1 / k for k in range(1, n + 1))
        assert n / math.e * math.log(n / 2) < exact < math.e * n * harmonic + 1
    generations_1 = exact_expected_runtime(30, 1, 1.0, plus=True) - 1
    generations_8 = (exact_expected_runtime(30, 8, 1.0, plus=True) - 1) / 8
    assert generations_8 < generations_1 / 4


@pytest.mark.parametrize(
    "selection, lam, n, steps",
    [("plus", 1, 16, 600), ("plus", 4, 16, 200), ("comma", 6, 12, 600)],
)
def test_mean_runtime_on_onemax_matches_the_markov_chain(selection, lam, n, steps):
    """600 seeds on OneMax (p = 0): every seed reaches the optimum and the mean runtime is
    the chain's exact E[T] within 4 standard errors (a rate or selection off by little
    moves it by more)."""
    seeds = 600
    rec = run(problem(seeds, n=n), selection, lam, steps, seed=3)
    assert (rec.values[steps]["reached_target"] == 1).all()
    runtimes = rec.values[steps]["evaluations"]
    exact = exact_expected_runtime(n, lam, 1.0, plus=selection == "plus")
    assert abs(runtimes.mean() - exact) < 4 * runtimes.std(ddof=1) / math.sqrt(seeds)


def test_target_distance_and_evaluations_count_whole_generations():
    """Target n − k* with k* = n: the start is on target, T = 1 for every seed."""
    rec = run(problem(4, n=10), "comma", 5, 3, [1, 3], target=10)
    assert (rec.series("evaluations") == 1).all() and (rec.series("reached_target") == 1).all()
    rec = run(problem(4, n=10), "comma", 5, 3, [1, 2, 3])
    evaluations, reached = rec.series("evaluations"), rec.series("reached_target")
    # not yet reached: the evaluations so far, 1 + λ t
    np.testing.assert_array_equal(
        evaluations[reached == 0], np.array([6.0, 11.0, 16.0])[np.nonzero(reached == 0)[0]]
    )


@pytest.mark.parametrize("name", ["mutation_rate", "target_distance"])
def test_parameters_beyond_n_are_refused_naming_the_key(name):
    params = {"selection": "comma", "offspring": 2, "mutation_rate": 1.0, "target_distance": 0}
    with pytest.raises(ParamError, match=f"algorithm.{name}: must be at most problem.n \\(8\\)"):
        CommaPlusEA({**params, name: 9}, problem(2, n=8), 2, CPU, torch.float64, 0)
    CommaPlusEA({**params, name: 8}, problem(2, n=8), 2, CPU, torch.float64, 0)  # at n: taken
