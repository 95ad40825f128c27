"""The loopback SFTP server the mailbox tests start (the demo's own,
:mod:`workers.demo.sftp_server`)."""

from workers.demo.sftp_server import USER, ServerLog
from workers.demo.sftp_server import SftpServer as SftpTestServer

__all__ = ["USER", "ServerLog", "SftpTestServer"]
