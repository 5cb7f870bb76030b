"""The fine-tuning configuration must not depend on how busy the machine is: the torch thread
count changes the trained floats but is not part of the model's version (fingerprint)."""

import os

from models.roads import finetune as FT


def test_finetune_threads_do_not_follow_the_load(monkeypatch):
    configs = []
    for load in (0.0, 50.0):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        configs.append(FT.finetune_config(400))
    assert configs[0].threads == configs[1].threads == FT.TRAINING_THREADS == 1
    assert configs[0] == configs[1]
