import numpy as np
import pytest
import torch
from idm_systems import ACT_DIM, OBS_DIM, linear_system_episodes
from inverse_dynamics import (
    FitConfig,
    IDMConfig,
    InverseDynamicsModel,
    evaluate,
    fit,
    load,
    make_windows,
    save,
)

SMALL = IDMConfig(obs_dim=OBS_DIM, act_dim=ACT_DIM, history=1, hidden_sizes=(64, 64))


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    windows, actions = make_windows(linear_system_episodes(40, 50, seed=0), SMALL.history)
    model = InverseDynamicsModel(SMALL, -1.0, 1.0)
    epochs: list[tuple[int, dict[str, float]]] = []
    cfg = FitConfig(lr=3e-3, max_epochs=40, patience=5, progress=False)
    result = fit(model, windows, actions, cfg, on_epoch=lambda *e: epochs.append(e))
    # every epoch is reported as it ends, with the curves' values
    assert [e for e, _ in epochs] == list(range(len(result.val_nll)))
    assert [m["val_nll"] for _, m in epochs] == result.val_nll
    assert [m["train_nll"] for _, m in epochs] == result.train_nll
    return model, result


def test_learns_known_inverse_dynamics_on_held_out_episodes(trained):
    model, result = trained
    held_out = make_windows(linear_system_episodes(10, 50, seed=99), SMALL.history)
    metrics = evaluate(model, *held_out)
    assert metrics.r2 >= 0.95, metrics
    assert min(metrics.r2_per_dim) >= 0.9
    assert metrics.mse < 0.02
    # Training lowered the validation NLL, and the restored model is the best epoch's.
    assert result.val_nll[result.best_epoch] == min(result.val_nll)
    assert result.val_nll[result.best_epoch] < result.val_nll[0]


def test_actions_respect_bounds_and_samples_spread(trained):
    model, _ = trained
    windows, _ = make_windows(linear_system_episodes(2, 20, seed=5), 1)
    w = torch.from_numpy(windows) * 50  # far outside the data: the mean action saturates
    mean = model.mean(w)
    assert float(mean.abs().max()) <= 1.0
    g = torch.Generator().manual_seed(0)
    a, b = model.sample(torch.from_numpy(windows), g), model.sample(torch.from_numpy(windows), g)
    assert not torch.equal(a, b) and float(a.abs().max()) <= 1.0


def test_log_prob_is_a_density_in_raw_units(trained):
    model, _ = trained
    windows, actions = make_windows(linear_system_episodes(1, 5, seed=3), 1)
    w = torch.from_numpy(windows)
    mean, log_std = model(w)
    raw_std = log_std.exp() * model.act_std
    raw_mean = mean * model.act_std + model.act_mean
    expected = torch.distributions.Normal(raw_mean, raw_std).log_prob(torch.from_numpy(actions))
    torch.testing.assert_close(model.log_prob(w, torch.from_numpy(actions)), expected.sum(-1))


def test_save_load_round_trip_gives_identical_predictions(trained, tmp_path):
    model, _ = trained
    save(model, tmp_path / "idm")
    loaded = load(tmp_path / "idm")
    windows, _ = make_windows(linear_system_episodes(3, 10, seed=7), 1)
    np.testing.assert_array_equal(model.predict(windows), loaded.predict(windows))
    assert loaded.config == model.config


def test_corrupt_missing_and_mismatched_checkpoints(trained, tmp_path):
    model, _ = trained
    with pytest.raises(FileNotFoundError, match="missing"):
        load(tmp_path / "nothing")
    path = save(model, tmp_path / "corrupt")
    blob = (path / "idm.safetensors").read_bytes()
    (path / "idm.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="corrupt IDM weights"):
        load(path)
    other = InverseDynamicsModel(IDMConfig(obs_dim=OBS_DIM, act_dim=ACT_DIM, hidden_sizes=(32,)))
    mismatched = save(other, tmp_path / "mismatched")
    # The 64x64 model's weights under the 32-wide model's config.
    (mismatched / "idm.safetensors").write_bytes(blob)
    with pytest.raises(ValueError, match="do not match its config"):
        load(mismatched)


def test_bad_inputs_raise_clear_errors(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="windows must have shape"):
        model.predict(np.zeros((4, 3, OBS_DIM + 1), np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.predict(np.zeros((0, 3, OBS_DIM), np.float32))
    windows = np.zeros((20, 3, OBS_DIM), np.float32)
    actions = np.zeros((20, ACT_DIM), np.float32)
    actions[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(InverseDynamicsModel(SMALL), windows, actions, FitConfig(progress=False))
    with pytest.raises(ValueError, match="actions must have shape"):
        fit(InverseDynamicsModel(SMALL), windows, actions[:5], FitConfig(progress=False))
    with pytest.raises(ValueError, match="too few"):
        fit(InverseDynamicsModel(SMALL), windows[:1], actions[:1], FitConfig(progress=False))
    with pytest.raises(ValueError, match=r"IDMConfig\.activation must be one of"):
        IDMConfig(obs_dim=2, act_dim=1, activation="swish3")


def test_export_has_contract_names(trained):
    weights, config = trained[0].export()
    assert {"net.0.weight", "net.2.weight", "net.4.bias", "obs_mean", "act_std", "act_low"} <= set(
        weights
    )
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in weights.values())
    assert config["history"] == 1 and config["hidden_sizes"] == [64, 64]


def test_next_state_noise_keeps_labels_of_perturbed_states_inside_the_action_box(trained):
    """States with errors (as a world model's) push a noise-free IDM to the action bounds;
    one trained with that noise on s_{t+1} labels them closer to the true actions."""
    plain, _ = trained
    windows, actions = make_windows(linear_system_episodes(40, 50, seed=0), SMALL.history)
    robust = InverseDynamicsModel(SMALL, -1.0, 1.0)
    cfg = FitConfig(lr=3e-3, max_epochs=40, patience=5, progress=False, next_state_noise=0.3)
    fit(robust, windows, actions, cfg)
    held, truth = make_windows(linear_system_episodes(10, 50, seed=99), SMALL.history)
    rng = np.random.default_rng(5)
    std = held.reshape(-1, OBS_DIM).std(0)
    noisy = held.copy()
    noisy[:, -1] += 0.3 * std * rng.normal(size=noisy[:, -1].shape).astype(np.float32)

    def at_bound(model):
        return float((np.abs(model.predict(noisy)) > 0.999).mean())

    def error(model):
        return float(np.square(model.predict(noisy) - truth).mean())

    assert at_bound(robust) < at_bound(plain)
    assert error(robust) < error(plain)
    assert evaluate(robust, held, truth).r2 >= 0.8  # clean states are still labelled well


def test_next_state_noise_must_not_be_negative():
    with pytest.raises(ValueError, match="next_state_noise"):
        FitConfig(next_state_noise=-0.1)


class _Interrupt(Exception):
    pass


def _resume_data():
    return make_windows(linear_system_episodes(12, 30, seed=3), SMALL.history)


def test_fit_interrupted_and_resumed_equals_an_uninterrupted_fit(tmp_path):
    """A fit interrupted in its last epoch (the checkpoint then carries patience - 1 epochs
    without improvement and best weights older than its last ones) and called again gives the
    uninterrupted fit's curves, early stop, best epoch and weights bit for bit; the stopped
    fit called again trains nothing."""
    torch.set_num_threads(1)
    windows, actions = _resume_data()
    cfg = FitConfig(lr=3e-2, max_epochs=40, patience=3, next_state_noise=0.1, progress=False)

    def fresh_model():
        torch.manual_seed(7)
        return InverseDynamicsModel(SMALL, -1.0, 1.0)

    whole = fresh_model()
    expected = fit(whole, windows, actions, cfg)
    val = expected.val_nll
    assert expected.stopped_early and expected.best_epoch == len(val) - 1 - cfg.patience
    cut = len(val) - 1

    def interrupt(epoch, _):
        if epoch == cut:
            raise _Interrupt

    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Interrupt):
        fit(fresh_model(), windows, actions, cfg, interrupt, checkpoint_dir=ckpt)
    # The epoch interrupted in its callback was not checkpointed: the checkpoint holds epochs
    # 0..cut-1, and epoch `cut` runs again.
    seen: list[int] = []
    resumed_model = fresh_model()
    resumed = fit(
        resumed_model, windows, actions, cfg, lambda e, _: seen.append(e), checkpoint_dir=ckpt
    )
    assert seen == list(range(cut, len(val)))
    assert (resumed.resumed_from_epoch, expected.resumed_from_epoch) == (cut, 0)
    assert resumed.train_nll == expected.train_nll and resumed.val_nll == val
    assert (resumed.best_epoch, resumed.stopped_early) == (expected.best_epoch, True)
    assert resumed.val_metrics == expected.val_metrics
    for name, value in whole.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], value), name
    seen.clear()
    again = fit(
        fresh_model(), windows, actions, cfg, lambda e, _: seen.append(e), checkpoint_dir=ckpt
    )
    assert seen == [] and again.val_nll == val and again.val_metrics == expected.val_metrics


def test_fit_checkpoint_of_another_fit_or_corrupt_is_refused(tmp_path):
    windows, actions = _resume_data()
    cfg = FitConfig(max_epochs=1, progress=False)
    fit(InverseDynamicsModel(SMALL), windows, actions, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another FitConfig; use the same one"):
        fit(
            InverseDynamicsModel(SMALL),
            windows,
            actions,
            FitConfig(max_epochs=1, lr=0.01, progress=False),
            checkpoint_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="another data"):
        fit(InverseDynamicsModel(SMALL), windows[1:], actions[1:], cfg, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another action bounds"):
        fit(InverseDynamicsModel(SMALL, -0.5, 0.5), windows, actions, cfg, checkpoint_dir=tmp_path)
    reordered = np.roll(windows, 1, axis=0), np.roll(actions, 1, axis=0)  # same sums, same shape
    with pytest.raises(ValueError, match="another data"):
        fit(InverseDynamicsModel(SMALL), *reordered, cfg, checkpoint_dir=tmp_path)
    wide = IDMConfig(obs_dim=OBS_DIM, act_dim=ACT_DIM, hidden_sizes=(32,))
    with pytest.raises(ValueError, match="another model config"):
        fit(InverseDynamicsModel(wide), windows, actions, cfg, checkpoint_dir=tmp_path)
    # resume=False starts afresh and replaces the checkpoint
    fit(InverseDynamicsModel(wide), windows, actions, cfg, checkpoint_dir=tmp_path, resume=False)
    path = tmp_path / "fit_checkpoint.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt or not an inverse_dynamics fit checkpoint"):
        fit(InverseDynamicsModel(wide), windows, actions, cfg, checkpoint_dir=tmp_path)
