"""When the dynamics model is retrained: one rule for the in-process loop and ``model_learner``.

PETS (Chua et al., 2018) retrains after every episode once the random seed episodes are done;
there is no retraining after the experiment's last episode (nothing would plan on that model).
A carried-over model (``initial_model``) needs no seed episodes: it is refined after every
episode. A robot without episodes retrains every ``every_transitions`` new transitions instead
(or too).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RetrainSchedule:
    """The retraining rule.

    Attributes:
        episodes: episodes in the experiment (``learning.episodes``).
        seed_episodes: random episodes before the first model (``learning.seed_episodes``).
        every_transitions: also retrain after this many new transitions (0: only at episode ends).
        min_transitions: never retrain on fewer transitions.
        carried: the run starts from a carried-over model (no seed episodes).
    """

    episodes: int
    seed_episodes: int
    every_transitions: int = 0
    min_transitions: int = 1
    carried: bool = False

    @property
    def first_episode(self) -> int:
        """The number of ended episodes after which the first retraining comes."""
        return 1 if self.carried else max(self.seed_episodes, 1)

    def after_episode(self, episodes_done: int, transitions: int) -> bool:
        """Whether to retrain now that ``episodes_done`` episodes have ended, on ``transitions``."""
        return (self.first_episode <= episodes_done < self.episodes
                and transitions >= self.min_transitions)

    def after_transitions(self, transitions: int, at_last_retrain: int) -> bool:
        """Whether ``transitions`` in all (``at_last_retrain`` at the last retraining) call for one."""
        return (self.every_transitions > 0 and transitions - at_last_retrain >= self.every_transitions
                and transitions >= self.min_transitions)
