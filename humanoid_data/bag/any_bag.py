"""Any bag the converter takes, read the same way: rosbag2 (MCAP, SQLite3) or ROS 1.

::

    rosbag2 folder (metadata.yaml + .mcap or .db3 files)  rosbags.rosbag2.Reader
    one .mcap or .db3 file                                 rosbags.rosbag2.Reader
    one ROS 1 .bag file                                    rosbags.rosbag1.Reader, each
                                                           message converted to CDR

Every reader yields ``(connection, log_ns, cdr_bytes)`` with ROS 2 type names, so the
converter's CDR peeks and decoders serve all of them. A ROS 1 message becomes the
CDR of the same message with the ROS 2 header (rosbags' own ROS 1 to CDR conversion,
the ``seq`` field dropped); ROS 1 ``tf/tfMessage`` is read as ``tf2_msgs/msg/TFMessage``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Collection, Iterator

from rosbags.interfaces import Connection, ConnectionExtRosbag1

from humanoid_data.bag.metadata import BAG_METADATA

#: Files that are a whole bag on their own.
BAG_FILE_SUFFIXES = ('.mcap', '.db3', '.bag')
ROS1_SUFFIX = '.bag'
#: ROS 1 types read under their ROS 2 name (the same fields on the wire).
ROS1_RENAMES = {'tf/msg/tfMessage': 'tf2_msgs/msg/TFMessage'}
TRANSIENT_LOCAL = 1      # rosbags' durability value of a latched publisher


def is_bag_file(path: Path) -> bool:
    """Whether ``path`` is one file that holds a whole bag (.mcap, .db3, ROS 1 .bag)."""
    return path.suffix in BAG_FILE_SUFFIXES and path.is_file()


def episode_name(path: Path) -> str:
    """The episode's name when nothing else names it: a bag file's stem, a folder's name."""
    return path.stem if path.suffix in BAG_FILE_SUFFIXES and path.is_file() else path.name


def bag_bytes(path: Path) -> int:
    """Size of a bag's data files (a bag file, or the files of a bag folder)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir()
               if p.suffix in BAG_FILE_SUFFIXES and p.is_file())


def is_latched(connection: Connection) -> bool:
    """Whether the topic's publisher kept its last message for late subscribers."""
    ext = connection.ext
    if isinstance(ext, ConnectionExtRosbag1):
        return bool(ext.latching)
    return any(getattr(getattr(q, 'durability', None), 'value', None) == TRANSIENT_LOCAL
               for q in ext.offered_qos_profiles)


class Ros1Bag:
    """A ROS 1 bag read like a rosbag2 one: ROS 2 type names, CDR message bytes."""

    def __init__(self, path: Path) -> None:
        """Remember the file (``open`` reads it)."""
        from rosbags.rosbag1 import Reader
        self.path = path
        self._reader = Reader(path)
        self._original: dict[int, Connection] = {}
        self._convert: dict[str, Callable[[bytes], bytes]] = {}
        self.connections: list[Connection] = []

    def open(self) -> None:
        """Open the file and build each connection's converter."""
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
        self._reader.open()
        types: dict[str, Any] = {}
        for conn in self._reader.connections:     # the bag's own definitions
            types.update(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        # ... with the ROS 2 header: ros1_to_cdr then drops seq.
        types['std_msgs/msg/Header'] = get_typestore(Stores.ROS2_FOXY).fielddefs[
            'std_msgs/msg/Header']
        store = get_typestore(Stores.EMPTY)
        store.register(types)
        for conn in self._reader.connections:
            msgtype = ROS1_RENAMES.get(conn.msgtype, conn.msgtype)
            self._original[conn.id] = conn
            self._convert.setdefault(conn.msgtype, _ros1_to_cdr(store, conn.msgtype))
            self.connections.append(conn._replace(msgtype=msgtype))

    def messages(self, connections: Collection[Connection] = (), start: int | None = None,
                 stop: int | None = None) -> Iterator[tuple[Connection, int, bytes]]:
        """Messages of ``connections`` (all if empty) logged in [start, stop), in log order."""
        renamed = {c.id: c for c in self.connections}
        wanted = [self._original[c.id] for c in connections]
        for conn, log_ns, raw in self._reader.messages(connections=wanted, start=start,
                                                       stop=stop):
            yield renamed[conn.id], log_ns, self._convert[conn.msgtype](raw)

    def close(self) -> None:
        """Close the file."""
        self._reader.close()

    def __enter__(self) -> Ros1Bag:
        """Open for a ``with`` block."""
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close at the end of a ``with`` block."""
        self.close()


def _ros1_to_cdr(store: Any, msgtype: str) -> Callable[[bytes], bytes]:
    def convert(raw: bytes) -> bytes:
        return bytes(store.ros1_to_cdr(raw, msgtype))
    return convert


def open_bag(path: Path) -> Any:
    """An opened reader of the bag at ``path`` (``connections``, ``messages``, ``close``).

    Raises:
        Exception: Whatever the reader library raises on a damaged bag (the caller names
            the bag in its error).

    """
    if path.suffix == ROS1_SUFFIX and path.is_file():
        reader: Any = Ros1Bag(path)
    else:
        from rosbags.rosbag2 import Reader
        reader = Reader(path)
    try:
        reader.open()
    except BaseException:
        try:
            reader.close()
        except Exception:    # noqa: BLE001 - the open error is the one to report
            pass
        raise
    return reader


def describe(path: Path) -> str:
    """What kind of bag ``path`` is, in a few words (for notes and errors)."""
    if path.is_file():
        return {'.mcap': 'a single MCAP file', '.db3': 'a single SQLite3 file',
                '.bag': 'a ROS 1 bag'}.get(path.suffix, 'a file')
    if (path / BAG_METADATA).is_file():
        return 'a rosbag2 folder'
    return 'a folder'
