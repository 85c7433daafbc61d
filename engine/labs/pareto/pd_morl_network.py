"""PD-MORL with its preference-conditioned Q-network on Deep Sea Treasure."""

from __future__ import annotations

import math

import torch

from engine.labs.pareto.deep_sea_treasure import COLUMNS, ROWS
from engine.labs.pareto.pd_morl import (
    COSINE_CLIP,
    action_score,
    front_points_found,
    greedy_returns,
    interpolate_directions,
    key_directions,
    time_shift,
)
from engine.labs.pareto.recording import FRONT_METRICS, FrontRecorder, thinned_checkpoints
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

# Greedy evaluation of all preferences costs a forward pass over every state, so the front is
# evaluated at about this many of the runner's checkpoints.
EVALUATIONS = 30
# The training preferences: the authors' grid of step 0.01 on the simplex, split into
# contiguous slices, one per worker.
TRAINING_GRID = 101
# Hindsight preferences are rounded to this many decimals, as the authors store them.
PREFERENCE_DECIMALS = 3


def preference_driven_target(
    q_next: torch.Tensor,
    reward: torch.Tensor,
    continuation: torch.Tensor,
    weights: torch.Tensor,
    projected: torch.Tensor,
    shift: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's target y = r + gamma Q'(s', a*, w) with
    a* = argmax_a' clip(cos(w_p, Q'(s', a', w) + shift), 0, 0.9999) w^T Q'(s', a', w).

    q_next [..., A, 2] are the target network's Q-vectors at s', reward [..., 2], continuation
    [...] is gamma (0 where s' ends the episode), weights and projected [..., 2]. Returns
    (y [..., 2], a* [...]); a* is the first maximiser on ties."""
    score = action_score(q_next, weights[..., None, :], projected[..., None, :], shift)
    chosen = score.argmax(dim=-1)
    bootstrap = q_next.gather(-2, chosen[..., None, None].expand(*chosen.shape, 1, 2)).squeeze(-2)
    return reward + continuation[..., None] * bootstrap, chosen


def angle_degrees(q: torch.Tensor, projected: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The directional angle term g(w_p, Q) = arccos(clip(cos(w_p, Q + shift), 0, 0.9999)) in
    degrees, as the authors' code measures it; [...]. Its gradient is zero where the clip binds."""
    cosine = torch.nn.functional.cosine_similarity(q + shift, projected, dim=-1)
    return torch.rad2deg(torch.acos(cosine.clamp(*COSINE_CLIP)))


def preference_driven_loss(
    q: torch.Tensor, y: torch.Tensor, projected: torch.Tensor, shift: torch.Tensor, weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per seed, the loss mean smooth_l1(Q, y) + weight * mean g(w_p, Q) over a minibatch of
    Q-vectors q and targets y [S, B, 2] (the smooth-L1 term averaged over both objectives, as
    torch's mean reduction does), and its TD term alone; ([S], [S])."""
    td = torch.nn.functional.smooth_l1_loss(q, y, reduction="none").mean(dim=(1, 2))
    if weight == 0:
        return td, td
    return td + weight * angle_degrees(q, projected, shift).mean(dim=1), td


def hindsight_preferences(
    count: int, shape: tuple[int, ...], g: torch.Generator, device, dtype
) -> torch.Tensor:
    """`count` preferences per transition for hindsight relabelling, [*shape, count, 2]: as the
    authors draw them, |z| / ||z||_1 for z ~ N(0, I), rounded to 3 decimals (the two weights of
    a row still sum to 1: the second is 1 minus the rounded first)."""
    z = torch.randn((*shape, count, 2), generator=g, device=device, dtype=torch.float64).abs()
    first = z[..., 0] / z.sum(dim=-1)
    first = torch.round(first * 10**PREFERENCE_DECIMALS) / 10**PREFERENCE_DECIMALS
    return torch.stack([first, 1 - first], dim=-1).to(dtype)


def relabelled_rows(state, action, reward, next_state, ended, preference, extra) -> dict:
    """The rows one step adds to a replay buffer: every transition (s, a, r, s', ended) once with
    the preference it was collected under and once with each of its N hindsight preferences.

    Inputs are [S, E] (reward and preference [S, E, 2]) for S seeds and E environments; `extra`
    [S, E, N, 2]. Returns tensors [S, E (1 + N)], transition-major: the rows of environment e
    are e (1 + N), ..., e (1 + N) + N, its own preference first."""
    copies = extra.shape[2] + 1
    seeds, envs = state.shape

    def repeat(x):
        return (
            x[:, :, None]
            .expand(seeds, envs, copies, *x.shape[2:])
            .reshape(seeds, envs * copies, *x.shape[2:])
        )

    preferences = torch.cat([preference[:, :, None, :], extra], dim=2)
    return {
        "state": repeat(state),
        "action": repeat(action),
        "reward": repeat(reward),
        "next_state": repeat(next_state),
        "ended": repeat(ended),
        "preference": preferences.reshape(seeds, envs * copies, 2),
    }


class ReplayBuffer:
    """One circular buffer of relabelled transitions per seed, [S, capacity, ...]: every seed
    adds the same number of rows each step, so one write position serves all."""

    def __init__(self, seeds: int, capacity: int, device, dtype):
        self.capacity, self.size, self.position = capacity, 0, 0
        long = dict(device=device, dtype=torch.long)
        self.rows = {
            "state": torch.zeros((seeds, capacity), **long),
            "action": torch.zeros((seeds, capacity), **long),
            "reward": torch.zeros((seeds, capacity, 2), device=device, dtype=dtype),
            "next_state": torch.zeros((seeds, capacity), **long),
            "ended": torch.zeros((seeds, capacity), device=device, dtype=torch.bool),
            "preference": torch.zeros((seeds, capacity, 2), device=device, dtype=dtype),
        }

    def add(self, rows: dict) -> None:
        count = rows["state"].shape[1]
        at = (self.position + torch.arange(count, device=rows["state"].device)) % self.capacity
        for name, column in self.rows.items():
            column[:, at] = rows[name].to(column.dtype)
        self.position = (self.position + count) % self.capacity
        self.size = min(self.size + count, self.capacity)

    def sample(self, batch: int, g: torch.Generator) -> dict:
        """`batch` rows per seed, drawn uniformly with replacement from the filled part."""
        seeds = self.rows["state"].shape[0]
        index = torch.randint(
            self.size, (seeds, batch), generator=g, device=self.rows["state"].device
        )
        return {
            name: column.gather(
                1,
                index.view(seeds, batch, *([1] * (column.dim() - 2))).expand(
                    seeds, batch, *column.shape[2:]
                ),
            )
            for name, column in self.rows.items()
        }


class Adam:
    """Adam (Kingma and Ba) with its default moments (0.9, 0.999) and epsilon 1e-8. It acts
    elementwise, so on weights stacked over seeds each seed keeps its own moments."""

    def __init__(self, parameters: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps=1e-8):
        self.parameters, self.lr, self.betas, self.eps = parameters, lr, betas, eps
        self.first = [torch.zeros_like(x) for x in parameters]
        self.second = [torch.zeros_like(x) for x in parameters]
        self.steps = 0

    @torch.no_grad()
    def step(self, gradients) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        first_correction = 1 - beta1**self.steps
        second_correction = 1 - beta2**self.steps
        for x, grad, m, v in zip(self.parameters, gradients, self.first, self.second, strict=True):
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denominator = (v / second_correction).sqrt_().add_(self.eps)
            x.addcdiv_(m, denominator, value=-self.lr / first_correction)


class PreferenceConditionedNetwork:
    """S independent MLPs (one per seed) Q(s, w) -> R^{A x 2}: input the state's features and
    the preference, ReLU hidden layers, a linear output; weights [S, fan_in, fan_out] so that
    one batched matrix product steps every seed. Xavier-normal weights and zero biases, as
    in the authors' networks."""

    def __init__(self, seeds, sizes, actions, g, device, dtype):
        self.actions = actions
        self.layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            std = math.sqrt(2.0 / (fan_in + fan_out))
            weight = std * torch.randn(
                (seeds, fan_in, fan_out), generator=g, device=device, dtype=dtype
            )
            bias = torch.zeros((seeds, 1, fan_out), device=device, dtype=dtype)
            self.layers.append((weight.requires_grad_(), bias.requires_grad_()))

    def parameters(self) -> list[torch.Tensor]:
        return [tensor for layer in self.layers for tensor in layer]

    def __call__(self, inputs: torch.Tensor, layers=None) -> torch.Tensor:
        """Q-vectors [S, N, A, 2] of inputs [S, N, features + 2]."""
        layers = self.layers if layers is None else layers
        x = inputs
        for depth, (weight, bias) in enumerate(layers):
            x = torch.baddbmm(bias, x, weight)
            if depth < len(layers) - 1:
                x = torch.relu(x)
        return x.view(*inputs.shape[:2], self.actions, 2)


class PreferenceDrivenNetwork(Algorithm):
    """PD-MORL: Preference-Driven Multi-Objective Reinforcement Learning Algorithm, with its
    single preference-conditioned network (the paper's multi-objective double DQN, whose
    target network, in the authors' code, both picks and evaluates a*) on Deep Sea Treasure.

    One network Q(s, a, w; theta) in R^2 for every preference w = (w_treasure, w_time), with a
    target copy theta'. E workers (the paper's parallel processes) each own a contiguous
    slice of the preference grid {0, 0.01, ..., 1}; at every episode start a worker draws its
    preference from its slice and acts epsilon-greedily on w^T Q(s, ., w), as the authors'
    agent does. Each transition (s, a, r, s') enters the replay buffer with its own w and
    with N hindsight preferences w_i ~ |z| / ||z||_1, z ~ N(0, I) (hindsight relabelling).
    Every step, each seed takes a gradient step of Adam on a minibatch of B rows:

        a* = argmax_a' clip(cos(w_p, Q(s', a', w; theta') + (0, 19)), 0, 0.9999) w^T Q(s', a', w; theta')
        y  = r + gamma (1 - ended) Q(s', a*, w; theta')
        L  = smooth_l1(Q(s, a, w; theta), y) + lambda g(w_p, Q(s, a, w; theta)),
        g  = arccos(clip(cos(w_p, Q(s, a, w; theta) + (0, 19)), 0, 0.9999))   (degrees)
        theta' <- tau theta + (1 - tau) theta'

    w_p is the projected preference: the directions of the key preferences' solutions, read
    from the known front in discounted returns and shifted by 19 in time as in the authors'
    Deep Sea Treasure script (their preference interpolator is not trained here: on this
    problem they read the keys from the known front too), interpolated piecewise-linearly
    (see `pareto.pd_morl`). The time objective is shifted by (0, 19) inside every cosine so
    both coordinates are non-negative. The state enters as its (row, column) scaled to
    [0, 1] or as a one-hot vector (``state_input``).

    The angle term g is the paper's directional angle term between the projected preference
    and the Q-vector; the authors' code adds it (in degrees, weight 1) to the critic loss of
    their continuous-action (TD3) variant only, and their Deep Sea Treasure script trains with
    the TD loss alone, which ``angle_weight`` = 0, the default, reproduces.

    Recorded at about 30 of the checkpoints: the (treasure, time) of the greedy policy
    argmax_a w^T Q(s, a, w) of each of P evaluation preferences w_treasure = (p + 1/2) / P,
    rolled out from the start ((0, horizon) if it reaches no treasure). Metrics per seed:
    ``hypervolume``, ``hypervolume_ratio`` and ``front_points_found`` as for `pareto.pd_morl`,
    and ``td_loss``, the mean smooth-L1 term of the step's minibatch.

    Departures from the authors' setup, for a run of seconds on a CPU: a smaller network
    (``hidden`` units in ``layers`` hidden layers; they use 3 x 256), one gradient step per
    seed per environment step of all E workers together (they take one per worker step),
    ``lr`` 3e-3 (theirs 3e-4), a buffer of ``buffer`` rows (theirs 10^4), learning from the
    first full batch on (they wait for 64 steps per worker), epsilon decaying linearly from
    ``epsilon_start`` to ``epsilon_end`` over the first ``exploration`` share of the steps
    (they decay it per episode), tau = ``target_rate`` 0.01 (theirs 0.005). Episodes that find no treasure are
    cut at the problem's horizon and bootstrap from their last state.
    """

    id = "pareto.pd_morl_network"
    family = "pareto"
    paper = "PD-MORL: Preference-Driven Multi-Objective Reinforcement Learning Algorithm"
    summary = (
        "One preference-conditioned Q-network with the preference-driven target, hindsight "
        "relabelling and a target network, on Deep Sea Treasure."
    )
    params = (
        Param(
            "preferences",
            "int",
            50,
            "Number P of evaluation preferences, w_treasure = (p + 1/2) / P.",
            low=1,
            high=500,
        ),
        Param("workers", "int", 10, "Parallel environments E per seed.", low=1, high=101),
        Param("relabels", "int", 3, "Hindsight preferences N per transition.", low=0, high=32),
        Param("hidden", "int", 64, "Units per hidden layer.", low=1, high=1024),
        Param("layers", "int", 2, "Hidden layers.", low=1, high=6),
        Param(
            "state_input",
            "choice",
            "coordinates",
            "How the state enters the network: coordinates ((row, column) scaled to [0, 1], as "
            "the authors feed it) or one_hot.",
            choices=("coordinates", "one_hot"),
        ),
        Param("lr", "float", 3e-3, "Adam step size.", low=0.0, low_open=True, high=1.0),
        Param("batch", "int", 32, "Minibatch rows per seed per step.", low=1, high=4096),
        Param("buffer", "int", 10_000, "Replay rows kept per seed.", low=1, high=1_000_000),
        Param(
            "target_rate",
            "float",
            0.01,
            "tau of the soft target update theta' <- tau theta + (1 - tau) theta' (every step).",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "discount",
            "float",
            0.99,
            "Discount gamma of both objectives.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "angle_weight",
            "float",
            0.0,
            "Weight lambda of the angle term (degrees) in the loss; 0 is the authors' DQN loss.",
            low=0.0,
            high=100.0,
        ),
        Param("epsilon_start", "float", 0.8, "Exploration rate at the start.", low=0.0, high=1.0),
        Param("epsilon_end", "float", 0.05, "Exploration rate after the decay.", low=0.0, high=1.0),
        Param(
            "exploration",
            "float",
            0.5,
            "Share of the steps over which epsilon falls linearly.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
    )
    problems = ("pareto.deep_sea_treasure",)
    plot = "pareto"
    metrics = (*FRONT_METRICS, "front_points_found", "td_loss")

    def state_features(self) -> torch.Tensor:
        """The network's view of each state, [states, features]."""
        prob = self.problem
        if self.p["state_input"] == "one_hot":
            return torch.eye(prob.states, device=self.device, dtype=self.dtype)
        state = torch.arange(prob.states, device=self.device)
        return torch.stack(
            [(state // COLUMNS) / (ROWS - 1), (state % COLUMNS) / (COLUMNS - 1)], dim=1
        ).to(self.dtype)

    def run(self, steps, rec):
        prob, p = self.problem, self.p
        seeds, envs, actions = self.seeds, p["workers"], prob.actions
        device, dtype = self.device, self.dtype
        g = generator(device, self.seed, ALGORITHM_STREAM)
        features = self.state_features()
        network = PreferenceConditionedNetwork(
            seeds,
            [features.shape[1] + 2] + [p["hidden"]] * p["layers"] + [actions * 2],
            actions,
            g,
            device,
            dtype,
        )
        target = [tuple(t.detach().clone() for t in layer) for layer in network.layers]
        optimiser = Adam(network.parameters(), p["lr"])
        buffer = ReplayBuffer(seeds, p["buffer"], device, dtype)
        shift = torch.tensor([0.0, time_shift(prob)], device=device, dtype=dtype)
        reward_table = torch.stack([prob.treasure, -torch.ones_like(prob.treasure)], dim=1)

        # Each worker's slice of the training grid, as (first index, length).
        grid = torch.linspace(0, 1, TRAINING_GRID, device=device, dtype=torch.float64)
        bounds = torch.linspace(0, TRAINING_GRID, envs + 1).long()
        first = bounds[:-1].to(device)
        length = (bounds[1:] - bounds[:-1]).to(device)

        count = p["preferences"]
        evaluation_weight = (torch.arange(count, device=device, dtype=torch.float64) + 0.5) / count
        evaluation = torch.stack([evaluation_weight, 1 - evaluation_weight], dim=1).to(dtype)
        labels = [
            {"weight_treasure": (i + 0.5) / count, "weight_time": (count - i - 0.5) / count}
            for i in range(count)
        ]
        front = FrontRecorder(rec, prob, labels)
        evaluation_steps = thinned_checkpoints(rec.checkpoints, EVALUATIONS)

        def draw_preferences(shape):
            index = first + (torch.rand(shape, generator=g, device=device) * length).long()
            weight = grid[index.clamp(max=TRAINING_GRID - 1)]
            return torch.stack([weight, 1 - weight], dim=-1).to(dtype)

        state = torch.full((seeds, envs), prob.start_state, device=device, dtype=torch.long)
        elapsed = torch.zeros((seeds, envs), device=device, dtype=torch.long)
        preference = draw_preferences((seeds, envs))
        decay_steps = max(1.0, p["exploration"] * steps)
        td_loss = torch.zeros(seeds, device=device, dtype=dtype)
        self.directions = key_directions(prob, p["discount"]).to(device)

        for t in range(1, steps + 1):
            share = min(1.0, (t - 1) / decay_steps)
            epsilon = p["epsilon_start"] + share * (p["epsilon_end"] - p["epsilon_start"])
            with torch.no_grad():
                inputs = torch.cat([features[state], preference], dim=-1)
                q = network(inputs)  # [S, E, A, 2]
                greedy = action_score(q, preference[:, :, None, :], None, shift).argmax(dim=-1)
            explore = torch.rand((seeds, envs), generator=g, device=device) < epsilon
            random = torch.randint(actions, (seeds, envs), generator=g, device=device)
            action = torch.where(explore, random, greedy)
            nxt = prob.successor[state, action]
            ended = prob.terminal[nxt]
            extra = hindsight_preferences(p["relabels"], (seeds, envs), g, device, dtype)
            buffer.add(
                relabelled_rows(state, action, reward_table[nxt], nxt, ended, preference, extra)
            )

            elapsed += 1
            restart = ended | (elapsed >= prob.horizon)
            state = torch.where(restart, prob.start_state, nxt)
            elapsed = torch.where(restart, 0, elapsed)
            preference = torch.where(
                restart[..., None], draw_preferences((seeds, envs)), preference
            )

            if buffer.size >= min(p["batch"], p["buffer"]):
                td_loss = self.learn(network, target, optimiser, buffer, features, shift, g)

            if t in evaluation_steps:
                with torch.no_grad():
                    points = self.greedy_front(network, features, evaluation, shift)
                found = front_points_found(prob, points)
                front.record(
                    t,
                    points.cpu().numpy(),
                    {"front_points_found": found, "td_loss": td_loss.detach()},
                )
            rec.progress(t)

    def learn(self, network, target, optimiser, buffer, features, shift, g) -> torch.Tensor:
        """One Adam step per seed on a minibatch; soft update of the target; the TD loss [S]."""
        p = self.p
        rows = buffer.sample(p["batch"], g)
        weights = rows["preference"]
        projected = interpolate_directions(self.directions, weights[..., 0])
        with torch.no_grad():
            q_next = network(torch.cat([features[rows["next_state"]], weights], dim=-1), target)
            continuation = p["discount"] * (~rows["ended"]).to(weights.dtype)
            y, _ = preference_driven_target(
                q_next, rows["reward"], continuation, weights, projected, shift
            )
        q = network(torch.cat([features[rows["state"]], weights], dim=-1))
        taken = q.gather(2, rows["action"][..., None, None].expand(-1, -1, 1, 2)).squeeze(2)
        loss, td = preference_driven_loss(taken, y, projected, shift, p["angle_weight"])
        # Seeds share no weights, so the gradient of the sum is each seed's own gradient.
        optimiser.step(torch.autograd.grad(loss.sum(), network.parameters()))
        with torch.no_grad():
            for (weight, bias), (target_weight, target_bias) in zip(
                network.layers, target, strict=True
            ):
                target_weight.lerp_(weight, p["target_rate"])
                target_bias.lerp_(bias, p["target_rate"])
        return td.detach()

    def greedy_front(self, network, features, evaluation, shift) -> torch.Tensor:
        """Returns [S, P, 2] of the greedy policies argmax_a w^T Q(s, a, w) of the evaluation
        preferences, from one forward pass over every (preference, state)."""
        prob = self.problem
        count, states = evaluation.shape[0], prob.states
        inputs = torch.cat(
            [
                features[None].expand(count, -1, -1),
                evaluation[:, None, :].expand(-1, states, -1),
            ],
            dim=-1,
        ).reshape(1, count * states, -1)
        q = network(inputs.expand(self.seeds, -1, -1))  # [S, P states, A, 2]
        q = q.view(self.seeds, count, states, prob.actions, 2)
        policy = action_score(q, evaluation[None, :, None, None, :], None, shift).argmax(dim=-1)
        return greedy_returns(prob, policy)
