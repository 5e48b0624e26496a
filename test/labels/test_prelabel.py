"""Pre-labels from a recorded bag: operator phases, re-detected contacts, confidences, the verb."""

from __future__ import annotations

from pathlib import Path

import pytest

from humanoid_data.cli.labels import prelabel_sessions
from humanoid_data.cli.main import main
from humanoid_data.core.contact_config import load_contact_config
from humanoid_data.core.events import Source
from humanoid_data.core.intervals import intervals_from_events
from humanoid_data.core.phases import load_taxonomy
from humanoid_data.labels.model import LabelSource, Role, Verdict
from humanoid_data.labels.prelabel import PRELABEL, prelabel_episode, uncertainty
from humanoid_data.labels.store import LabelStore
from test.dataset.recording import REPO, record

MS = 1_000_000


@pytest.fixture(scope='module')
def session(tmp_path_factory):
    """A recorded session of two pick-and-place episodes (no DDS)."""
    root = tmp_path_factory.mktemp('pre')
    path, _ = record(root, 'good', REPO / 'config' / 'humanoid.yaml', episodes=2)
    return path


@pytest.fixture(scope='module')
def labelled(session):
    taxonomy = load_taxonomy(REPO / 'config' / 'phases.yaml')
    contact = load_contact_config(REPO / 'config' / 'contact.yaml')
    return prelabel_episode(session / 'episode_0001', taxonomy, contact)


def test_the_pre_labels_are_a_machine_set_with_the_operator_phases(labelled):
    assert labelled.annotator == PRELABEL and labelled.role == Role.MACHINE
    assert [p.name for p in labelled.phases][:3] == ['reach', 'grasp', 'lift']
    assert all(p.source == LabelSource.OPERATOR for p in labelled.phases)
    assert labelled.outcome is not None and labelled.outcome.value == 'success'
    assert labelled.verdict is not None and labelled.verdict.value == Verdict.KEEP.value


def test_re_detected_contacts_match_the_true_ones_with_a_lower_confidence(labelled, session):
    from humanoid_data.bag.episode_reader import EpisodeReader
    reader = EpisodeReader(session / 'episode_0001')
    reader.scan()
    reader.close_samples()
    recorded = {'wrist/right', 'tactile/right/index', 'tactile/right/thumb'}   # in the suite
    truth = [t for t in intervals_from_events(reader.events, Source.SIM_TRUTH)
             if t.channel in recorded]
    assert labelled.contacts and len(labelled.contacts) == len(truth)
    for contact in labelled.contacts:
        twin = min((t for t in truth if t.channel == contact.channel),
                   key=lambda t: abs(t.begin_ns - contact.onset_ns))
        assert abs(twin.begin_ns - contact.onset_ns) < 100 * MS
        # Found offline only (no live detector ran while recording): less trusted.
        assert contact.source == LabelSource.OFFLINE and contact.confidence == 0.4
    assert all(0 <= (p.confidence or 0) <= 1 for p in labelled.phases)
    assert 0 < uncertainty(labelled) < 1


def test_the_verb_saves_a_revision_per_run_and_names_unfinished_episodes(session, tmp_path):
    import shutil
    copy = tmp_path / 'good'
    shutil.copytree(session, copy)
    broken = copy / 'episode_0009'
    broken.mkdir()
    (broken / 'episode_0009.mcap').write_bytes(b'\x89MCAP0\r\n')        # recorder died
    done, failed = prelabel_sessions([copy], REPO / 'config' / 'phases.yaml',
                                     REPO / 'config' / 'contact.yaml')
    assert [d.episode.name for d in done] == ['episode_0001', 'episode_0002']
    assert list(failed) == [str(broken)] and 'humanoid-data repair' in failed[str(broken)]
    assert main(['prelabel', str(copy)]) == 1        # one episode could not be labelled
    assert main(['prelabel', str(copy / 'episode_0001')]) == 0
    store = LabelStore(copy)
    assert [r.revision for r in store.history('episode_0001', PRELABEL)] == [1, 2, 3]
    assert set(store.episodes()) == {'episode_0001', 'episode_0002'}
    assert not any(Path(p).name == 'episode_0009' for p in store.episodes())
