"""Merges Hydra overrides (one a line, as `medrl verl prepare` writes overrides.txt) into verl's resolved trainer
config in struct mode with OmegaConf, the library under Hydra: an unknown key fails as it would in verl. The
override rules are the verl stand-in's (test/fixtures/verl-standin/verl/_standin.py), which follow Hydra's.

usage: python3 check_overrides.py ppo_trainer.yaml overrides.txt   → prints "ok N", or Hydra's error (exit 1)
"""
import os
import sys

from omegaconf import OmegaConf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "verl-standin"))
from verl._standin import apply_overrides, parse_value  # noqa: E402,F401 - parse_value is imported by the tests from here


def main():
    lines = [l for l in open(sys.argv[2], encoding="utf-8").read().split("\n") if l.strip()]
    apply_overrides(OmegaConf.load(sys.argv[1]), lines)
    print("ok %d" % len(lines))


if __name__ == "__main__":
    main()
