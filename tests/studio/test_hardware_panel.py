"""Hardware: what the engine reports, the choices, and the ones this machine cannot honour."""

import pytest

from studio.configure.catalogue_loader import read_hardware
from studio.configure.hardware_panel import NO_CUDA_REASON, HardwarePanel
from tests.studio.conftest import HARDWARE_NO_CUDA, HARDWARE_ONE_CUDA


@pytest.fixture
def panel(qtbot):
    widget = HardwarePanel()
    qtbot.addWidget(widget)
    return widget


def device_rows(panel):
    model = panel.device.model()
    return [
        (panel.device.itemText(i), model.item(i).isEnabled()) for i in range(panel.device.count())
    ]


def test_without_cuda_the_cuda_choice_is_disabled_and_says_why(panel):
    panel.set_hardware(read_hardware(HARDWARE_NO_CUDA))
    assert device_rows(panel) == [("auto", True), ("cpu", True), ("cuda (none)", False)]
    assert panel.device.model().item(2).toolTip() == f"Not available: {NO_CUDA_REASON}."
    assert "(here: cpu)" in panel.device.model().item(0).toolTip()
    assert panel.device_names() == ["auto", "cpu"]
    text = panel.detected.text()
    assert (
        "2 cores" in text
        and "16.0 GiB" in text
        and "2.13.0+cpu" in text
        and "CUDA</b>: none" in text
    )
    # Threads and workers are bounded by the 2 cores.
    assert (panel.threads.maximum(), panel.workers.minimum(), panel.workers.maximum()) == (2, 1, 2)


def test_one_cuda_device_is_offered_with_its_name_and_memory(panel):
    panel.set_hardware(read_hardware(HARDWARE_ONE_CUDA))
    assert device_rows(panel) == [
        ("auto", True),
        ("cpu", True),
        ("cuda:0 — NVIDIA H100 80GB HBM3 (80.0 GiB)", True),
    ]
    assert "(here: cuda:0 (NVIDIA H100 80GB HBM3))" in panel.device.model().item(0).toolTip()
    assert "cuda:0</b>: NVIDIA H100 80GB HBM3, 80.0 GiB" in panel.detected.text()
    panel.set_device("cuda")  # what "cuda" means: the first device
    assert panel.values() == {"device": "cuda:0", "threads": 0, "dtype": "float32"}
    assert panel.is_valid() and panel.threads.maximum() == 16


def test_a_device_this_machine_lacks_is_shown_refused_until_changed(panel):
    panel.set_hardware(read_hardware(HARDWARE_NO_CUDA))
    panel.set_values({"device": "cuda:1", "threads": 8, "dtype": "float64"})
    assert panel.values() == {"device": "cuda:1", "threads": 2, "dtype": "float64"}
    assert not panel.is_valid()
    assert panel.error == "cuda:1 is not available on this machine (available: auto, cpu)"
    assert not panel.device_error.isHidden()
    assert panel.load_note.text() == (
        "The spec asked for 8 torch threads; this machine has 2 cores, so 2 are used."
    )
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    assert panel.is_valid() and panel.device_error.isHidden()


def test_a_wish_made_before_the_report_is_judged_when_it_arrives(panel):
    panel.set_values({"device": "cuda:0"})
    assert panel.is_valid() and panel.device_value() == "cuda:0"
    panel.set_hardware(read_hardware(HARDWARE_NO_CUDA))
    assert not panel.is_valid() and panel.device_value() == "cuda:0"
    panel.set_values({"device": "cuda:0"})
    panel.set_hardware(read_hardware(HARDWARE_ONE_CUDA))
    assert panel.is_valid() and panel.device_value() == "cuda:0"


def test_the_capacity_note_counts_threads_over_cores(panel):
    panel.set_hardware(read_hardware(HARDWARE_NO_CUDA))
    panel.workers.setValue(2)
    panel.threads.setValue(1)
    assert panel.capacity_note.text() == "2 workers × 1 thread = 2 on 2 cores"
    panel.threads.setValue(2)
    assert (
        panel.capacity_note.text()
        == "2 workers × 2 threads = 4 on 2 cores: runs side by side will slow each other down"
    )


@pytest.mark.parametrize(
    "document, reason",
    [
        ([], "expected a JSON object, got list"),
        ({"cpu_cores": 0, "cuda": []}, "cpu_cores must be a positive integer, got 0"),
        (
            {"cpu_cores": 2, "memory_bytes": "lots", "cuda": []},
            "memory_bytes must be an integer or null, got 'lots'",
        ),
        ({"cpu_cores": 2, "cuda": {"name": "x"}}, "cuda must be a list, got {'name': 'x'}"),
        (
            {"cpu_cores": 2, "cuda": [{"index": 0}]},
            "cuda[0] must be an object with a name, got {'index': 0}",
        ),
    ],
)
def test_a_malformed_report_is_refused_naming_the_field(document, reason):
    with pytest.raises(ValueError) as err:
        read_hardware(document)
    assert str(err.value) == reason


def test_run_is_refused_for_a_device_this_machine_lacks(make_window, toy_catalogue):
    win = make_window(toy_catalogue)
    assert win.run_button.isEnabled()
    win.hardware_panel.set_values({"device": "cuda:0"})
    assert not win.run_button.isEnabled() and win.start_run() is None
    assert win.config.hardware_summary.text().startswith("Hardware: cuda:0")
    win.hardware_panel.set_device("cpu")
    assert win.run_button.isEnabled()


def test_the_worker_count_drives_the_queue_and_is_remembered(
    make_window, toy_catalogue, studio_settings_folder
):
    win = make_window(toy_catalogue)
    win.hardware_panel.workers.setValue(1)
    assert win.queue.workers == 1 and win.engine_state.text() == "engine: idle  ·  1 worker"
    assert win.settings.value("hardware/workers") in (1, "1")
