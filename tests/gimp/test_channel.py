"""The plug-in's side of the channel against the real worker, and install/uninstall; no GIMP needed."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from mmrealsr_plugin import load_model, restore, settings
from mmrealsr_plugin.cli import main
from mmrealsr_plugin.nodes.gimp.install import PLUGIN_FILES, plugin_folder, worker_command
from mmrealsr_plugin.nodes.gimp.mmrealsr_gimp import channel


@pytest.fixture
def installed(tmp_path, tiny_model_path):
    profile = tmp_path / "profile"
    assert main(["gimp", "install", "--profile", str(profile), "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    return plugin_folder(profile)


def test_install_writes_an_executable_plugin_and_its_config(installed, tiny_model_path):
    assert sorted(p.name for p in installed.iterdir()) == sorted([*PLUGIN_FILES, channel.CONFIG_NAME])
    main_file = installed / "mmrealsr_gimp.py"
    assert main_file.stat().st_mode & stat.S_IXUSR
    assert main_file.read_text().startswith("#!/usr/bin/env python3\n")
    config = json.loads((installed / channel.CONFIG_NAME).read_text())
    assert config == {"protocol": channel.PROTOCOL, "command": worker_command(), "model": str(tiny_model_path),
                      "device": "cpu", "max_pixels": settings.max_pixels(), "warm": True}


def test_uninstall_removes_only_our_folder(installed, capsys):
    profile = installed.parents[1]
    assert main(["gimp", "uninstall", "--profile", str(profile)]) == 0
    assert not installed.exists()
    installed.mkdir(parents=True)
    (installed / "mmrealsr_gimp.py").write_text("someone else's\n")
    assert main(["gimp", "uninstall", "--profile", str(profile)]) != 0
    assert "not installed by `mmrealsr gimp install`" in capsys.readouterr().err
    assert (installed / "mmrealsr_gimp.py").exists()


def test_default_profile_follows_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert plugin_folder(None) == tmp_path / "GIMP" / "3.0" / "plug-ins" / "mmrealsr_gimp"


def test_worker_restores_like_the_core_and_reports_tile_progress(installed, tiny_model_path):
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 1, (20, 24, 4)).astype(np.float32), rng.uniform(0, 1, (12, 10, 1)).astype(np.float32)]
    seen: list[float] = []
    config = channel.WorkerConfig.load(installed)
    result = channel.run_worker(config, "restore", images, channel.Knobs(noise=0.4, tile=16),
                                lambda fraction, text: seen.append(fraction))
    model = load_model(str(tiny_model_path), device="cpu")
    for image, output, scores in zip(images, result.outputs, result.scores):
        # the plug-in sends no overlap: the default (64) with tile 16, reduced by the core's one rule
        # (TileConfig.fitted: half the tile), as every front-end gets it; the worker no longer clamps on its own
        expected = restore(model, image, noise=0.4, tile=16)
        np.testing.assert_allclose(output, expected.image, atol=1e-6)
        assert scores == pytest.approx((expected.scores.blur[0], 0.4))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) > 3


def test_worker_errors_reach_the_plugin_as_messages(installed):
    config = channel.WorkerConfig.load(installed)
    image = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(channel.ChannelError, match="MM-RealSR failed: model '/no/such/model.safetensors'"):
        channel.run_worker(config, "estimate", [image], channel.Knobs(model="/no/such/model.safetensors"))
    broken = channel.WorkerConfig(command=["/no/such/python", "-m", "mmrealsr_plugin"])
    with pytest.raises(channel.ChannelError, match="cannot start the MM-RealSR environment .*mmrealsr gimp install"):
        channel.run_worker(broken, "estimate", [image], channel.Knobs())
    crashing = channel.WorkerConfig(command=[worker_command()[0], "-c", "import sys; sys.exit('boom')"])
    with pytest.raises(channel.ChannelError, match="exited with status 1.*boom"):
        channel.run_worker(crashing, "estimate", [image], channel.Knobs())


def test_missing_or_bad_config_says_how_to_fix(tmp_path):
    with pytest.raises(channel.ChannelError, match="mmrealsr gimp install"):
        channel.WorkerConfig.load(tmp_path)
    (tmp_path / channel.CONFIG_NAME).write_text(json.dumps({"command": "python"}))
    with pytest.raises(channel.ChannelError, match="non-empty list of strings"):
        channel.WorkerConfig.load(tmp_path)


def test_events_and_environment():
    line = channel.encode_event("progress", item=0, items=1, done=2, total=4)
    assert channel.decode_event(line)["done"] == 2
    assert channel.decode_event("some library chatter") is None
    assert channel.decode_event('{"unrelated": 1}') is None
    with pytest.raises(channel.ChannelError, match="protocol 99"):
        channel.decode_event(json.dumps({channel.EVENT_KEY: 99, "event": "done"}))
    env = channel.clean_environment({"PYTHONPATH": "/gimp", "LD_LIBRARY_PATH": "/x", "HOME": "/h"})
    assert env == {"HOME": "/h"}
    assert channel.host_prefix() == (["flatpak-spawn", "--host"] if os.path.exists("/.flatpak-info") else [])
