"""A small autoregressive MLP over token sequences: the DPO family on a neural sequence policy."""

from __future__ import annotations

import itertools
import math

import torch

from engine.labs.preference.problems import COMPARISON_PARAMS, PreferenceProblem
from engine.params import Param, ParamError

MAX_SEQUENCES = 1024


class TokenMLPPreferences(PreferenceProblem):
    """One prompt token x, responses y = (y_1, …, y_L) over a vocabulary of V tokens, and an
    autoregressive MLP policy (a fixed-window neural language model):

        c_l = [x, y_{l−L+1}, …, y_{l−1}]      (positions before the response are a BOS token)
        h_l = tanh(W₁ [E(c_l,1); …; E(c_l,L)] + b₁)
        π_θ(y_l | x, y_<l) = softmax(W₂ h_l + b₂)[y_l]
        log π_θ(y | x) = Σ_l log π_θ(y_l | x, y_<l),

    with θ = (E, W₁, b₁, W₂, b₂) one flat vector per seed. π_ref is a frozen copy of the
    network at its initialisation, which the policy starts from. The true reward of a
    response is known:

        r(y) = Σ_l s_x(y_l) + b · #{l : y_{l+1} ≡ y_l + 1 (mod V)},

    per-token scores s_x for the prompt plus a bonus b for every step that counts up, so
    the best responses depend on their tokens' order, which the autoregressive policy
    must learn. Comparisons are drawn from π_ref and labelled by Bradley–Terry exactly as
    on the tabular problem.

    Every one of the V^L responses is enumerated (V^L ≤ 1024), so the sequence
    log-probabilities form the [seeds, K] table every loss of the family reads: each loss
    is a function of log-ratios and runs unchanged, and the shared metrics (exact KL, true
    reward, win rate against π_ref, distance to π_ref exp(r/β)/Z) stay exact. The network
    is not rich enough to represent every policy, so π_ref exp(r/β)/Z need not be
    reachable. IPO's `target_policy` sees this problem in its tabular view (one free
    logit per response), so it measures against the unrestricted IPO optimum.

    The network and the prompt's scores are drawn once from `instance` (not from the run's
    seed), in float64 on the CPU, then moved to the run's device and dtype: runs on the CPU
    and on CUDA start from the same π_ref. Every tensor of the forward pass lives on the run's
    device, so the same code runs on either.
    """

    id = "preference.token_mlp"
    title = "Autoregressive token MLP"
    summary = (
        "Responses of L tokens from a vocabulary of V; an embedding + one-hidden-layer MLP policy."
    )
    params = (
        Param("vocabulary", "int", 4, "V: tokens a response is made of.", low=2, high=64),
        Param("length", "int", 3, "L: tokens per response.", low=1, high=10),
        Param("prompts", "int", 4, "Prompt tokens the network has embeddings for.", low=1, high=64),
        Param(
            "prompt",
            "int",
            0,
            "The prompt token x of this problem (0 … prompts − 1).",
            low=0,
            high=63,
        ),
        Param("embedding_dim", "int", 8, "d: size of each token embedding.", low=1, high=256),
        Param("hidden", "int", 16, "H: units of the hidden layer.", low=1, high=1024),
        Param(
            "init_scale",
            "float",
            1.0,
            "Scale of the initial weights: larger makes π_ref more peaked.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param(
            "pattern_bonus",
            "float",
            1.0,
            "b: reward for every step y_{l+1} = y_l + 1 (mod V).",
            low=-100.0,
            high=100.0,
        ),
        Param(
            "token_scores",
            "floats",
            [],
            "s_x: the prompt's score of each token (V numbers); empty = drawn "
            "N(0, 1) from the instance.",
            low=-100.0,
            high=100.0,
            min_len=0,
            max_len=64,
        ),
        Param(
            "instance",
            "int",
            0,
            "Seed of the network's initialisation (π_ref) and the drawn scores.",
            low=0,
            high=2**62,
        ),
    ) + COMPARISON_PARAMS

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        v, length, prompts = params["vocabulary"], params["length"], params["prompts"]
        if v**length > MAX_SEQUENCES:
            raise ParamError(
                "problem.length",
                f"vocabulary^length = {v}^{length} = {v**length} responses is more "
                f"than the {MAX_SEQUENCES} this problem enumerates",
            )
        if params["prompt"] >= prompts:
            raise ParamError(
                "problem.prompt", f"must be below prompts ({prompts}), got {params['prompt']}"
            )
        self.vocabulary, self.length = v, length
        self.embedding_dim, self.hidden = params["embedding_dim"], params["hidden"]
        self.input_tokens = v + 1 + prompts
        self.bos = v
        draw = torch.Generator().manual_seed(params["instance"])
        self._reference_flat64 = self._initial_network(draw, params["init_scale"])
        scores = torch.randn(v, generator=draw, dtype=torch.float64)
        if params["token_scores"]:
            if len(params["token_scores"]) != v:
                raise ParamError(
                    "problem.token_scores",
                    f"needs one score per token ({v}), got {len(params['token_scores'])}",
                )
            scores = torch.tensor(params["token_scores"], dtype=torch.float64)
        self.token_scores64 = scores

        self.sequences64 = torch.tensor(
            list(itertools.product(range(v), repeat=length)), dtype=torch.long
        )
        self._contexts64 = self._contexts(self.sequences64, v + 1 + params["prompt"])
        self.sequences = self.sequences64.to(device)
        self._contexts_on_device = self._contexts64.to(device)
        self._targets = self.sequences.unsqueeze(-1)
        rewards = sequence_rewards(self.sequences64, scores, params["pattern_bonus"], v)
        log_reference64 = self._sequence_log_probs(
            self._reference_flat64[None], self._contexts64, self.sequences64.unsqueeze(-1)
        )[0]
        self._define(rewards, log_reference64, None)

    # -- the network ------------------------------------------------------------------
    def _shapes(self) -> list[tuple[int, ...]]:
        d, h, v, length = self.embedding_dim, self.hidden, self.vocabulary, self.length
        return [(self.input_tokens, d), (h, length * d), (h,), (v, h), (v,)]

    def _initial_network(self, draw: torch.Generator, scale: float) -> torch.Tensor:
        """θ_ref as one float64 vector: embeddings N(0, s²), weights N(0, s²/fan_in), biases 0."""
        parts = []
        for shape in self._shapes():
            if len(shape) == 1:
                parts.append(torch.zeros(shape, dtype=torch.float64))
                continue
            fan_in = 1 if shape[0] == self.input_tokens else shape[1]
            parts.append(
                torch.randn(shape, generator=draw, dtype=torch.float64) * scale / math.sqrt(fan_in)
            )
        return torch.cat([p.reshape(-1) for p in parts])

    def _contexts(self, sequences: torch.Tensor, prompt_token: int) -> torch.Tensor:
        """[K, L, L] input tokens: position l sees the prompt and the L − 1 tokens before it."""
        k, length = sequences.shape
        padded = torch.cat(
            [torch.full((k, length - 1), self.bos, dtype=torch.long), sequences], dim=1
        )
        windows = torch.stack([padded[:, l : l + length - 1] for l in range(length)], dim=1)
        prompt = torch.full((k, length, 1), prompt_token, dtype=torch.long)
        return torch.cat([prompt, windows], dim=2)

    def unflatten(self, parameters: torch.Tensor) -> list[torch.Tensor]:
        """(E, W₁, b₁, W₂, b₂) of every seed from flat parameters [seeds, P]."""
        parts, offset = [], 0
        for shape in self._shapes():
            size = math.prod(shape)
            parts.append(parameters[:, offset : offset + size].reshape(parameters.shape[0], *shape))
            offset += size
        return parts

    def _sequence_log_probs(self, parameters, contexts, targets) -> torch.Tensor:
        embedding, w1, b1, w2, b2 = self.unflatten(parameters)
        s = parameters.shape[0]
        k, length, _ = contexts.shape
        inputs = embedding[:, contexts].reshape(s, k, length, -1)
        hidden = torch.tanh(torch.einsum("skli,shi->sklh", inputs, w1) + b1[:, None, None, :])
        logits = torch.einsum("sklh,svh->sklv", hidden, w2) + b2[:, None, None, :]
        token_log_probs = torch.log_softmax(logits, dim=-1)
        return token_log_probs.gather(-1, targets.expand(s, -1, -1, -1)).squeeze(-1).sum(-1)

    # -- the policy family, as the shared loop reads it ---------------------------------
    def initial_parameters(self) -> torch.Tensor:
        """θ_ref for every seed, [seeds, P]: the policy starts as a copy of π_ref's network."""
        theta = self._reference_flat64.to(device=self.device, dtype=self.dtype)
        return theta.expand(self.seeds, -1).clone()

    def log_policy(self, parameters: torch.Tensor) -> torch.Tensor:
        """log π_θ(y | x) of every response, [seeds, K]: sums of token log-probabilities."""
        return self._sequence_log_probs(parameters, self._contexts_on_device, self._targets)

    def logits(self, parameters: torch.Tensor) -> torch.Tensor:
        """The sequence log-probabilities, which are their own normalised logits."""
        return self.log_policy(parameters)


def sequence_rewards(
    sequences: torch.Tensor, scores: torch.Tensor, bonus: float, vocabulary: int
) -> torch.Tensor:
    """r(y) = Σ_l s(y_l) + b · #{l : y_{l+1} ≡ y_l + 1 (mod V)} for sequences [K, L], float64 [K]."""
    counting_up = ((sequences[:, 1:] - sequences[:, :-1]) % vocabulary == 1).sum(1)
    return scores[sequences].sum(1) + bonus * counting_up.to(torch.float64)
