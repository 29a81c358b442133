"""A small RTSP camera for the tests: serves an MP4 file's H.264 at rtsp://127.0.0.1:PORT/cam
through GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0 and python3-gi; run it
with /usr/bin/python3). Prints "ready" once it listens.

    /usr/bin/python3 rtsp_serve.py FILE.mp4 PORT
"""

import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
path, port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={path} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
