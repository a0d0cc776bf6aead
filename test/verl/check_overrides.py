"""Merges Hydra overrides (one a line, as `medrl verl prepare` writes overrides.txt) into verl's resolved trainer
config in struct mode with OmegaConf, the library under Hydra: an unknown key fails as it would in verl.

usage: python3 check_overrides.py ppo_trainer.yaml overrides.txt   → prints "ok N" or "error: …" (exit 1)
"""
import re
import sys

import yaml
from omegaconf import OmegaConf, open_dict


def parse_value(text):
    """A Hydra value: quoted strings unescaped by Hydra's rule (backslashes count only before a quote or at the
    end, where they come doubled; an escaped quote is a quote), anything else read as YAML."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        q = text[0]
        return re.sub(r"(\\+)(%s|$)" % q, lambda m: "\\" * (len(m.group(1)) // 2) + (q if len(m.group(1)) % 2 else m.group(2)), text[1:-1])
    return yaml.safe_load(text)


def main():
    cfg = OmegaConf.load(sys.argv[1])
    OmegaConf.set_struct(cfg, True)
    lines = [l for l in open(sys.argv[2], encoding="utf-8").read().split("\n") if l.strip()]
    for line in lines:
        key, _, value = line.partition("=")
        try:
            if key.startswith("~"):
                with open_dict(cfg):
                    parent, _, leaf = key[1:].rpartition(".")
                    node = OmegaConf.select(cfg, parent) if parent else cfg
                    del node[leaf]
            elif key.startswith("+"):
                OmegaConf.update(cfg, key.lstrip("+"), parse_value(value), merge=True, force_add=True)
            else:
                OmegaConf.update(cfg, key, parse_value(value), merge=True)
        except Exception as e:  # noqa: BLE001
            print("error: %s: %s: %s" % (line, type(e).__name__, str(e).splitlines()[0]))
            sys.exit(1)
    print("ok %d" % len(lines))


if __name__ == "__main__":
    main()
