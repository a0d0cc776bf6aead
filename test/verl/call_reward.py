"""Calls a generated reward.py as verl's reward manager does: compute_score(data_source=…, solution_str=…,
ground_truth=…, extra_info=…) with keyword arguments, awaited, all calls concurrent on one event loop.

usage: python3 call_reward.py reward.py calls.jsonl [--time]   → one JSON result a line, in call order
(--time: one line {"calls": N, "seconds": S} for the gather alone, as the bench reports). On failure prints
"error: <message>" and exits 1.
"""
import asyncio
import importlib.util
import json
import sys
import time


async def main():
    spec = importlib.util.spec_from_file_location("medrl_reward", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *[
            module.compute_score(data_source=c["data_source"], solution_str=c["solution_str"], ground_truth=c["ground_truth"], extra_info=c["extra_info"])
            for c in calls
        ]
    )
    if "--time" in sys.argv:
        print(json.dumps({"calls": len(results), "seconds": time.perf_counter() - t0}))
        return
    for r in results:
        print(json.dumps(r))


try:
    asyncio.run(main())
except Exception as e:  # noqa: BLE001
    print("error: %s" % e)
    sys.exit(1)
