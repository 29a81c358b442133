"""An RTSP camera with a clock drawn into its pictures, for the WebRTC latency test: serves at
rtsp://127.0.0.1:PORT/cam the frames of an MP4 file in a loop at 30 fps, re-encoded with x264
(zero latency), each with the wall clock at the moment it was made drawn along its bottom: two
rows (20 pixels each) of the same 24 blocks, the milliseconds since the epoch modulo 2^24, most
significant bit first, white for 1 (a reader takes a value only where both rows agree: boxes
drawn over the picture may cross a block).
Run it with /usr/bin/python3 (Debian's python3-gi and gir1.2-gst-rtsp-server-1.0). Prints
"ready" once it listens.

    /usr/bin/python3 clock_camera.py FILE.mp4 PORT
"""

import sys
import time

import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer, GLib

Gst.init(None)
path, port = sys.argv[1], sys.argv[2]
WIDTH, HEIGHT, FPS, BITS, BLOCK, BAND = 640, 360, 30, 24, 24, 40

# The file's frames, decoded once (I420 at 640x360).
decode = Gst.parse_launch(
    f"filesrc location={path} ! decodebin ! videoconvert ! videoscale ! "
    f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT} ! appsink name=sink sync=false"
)
sink = decode.get_by_name("sink")
decode.set_state(Gst.State.PLAYING)
frames = []
while True:
    sample = sink.emit("pull-sample")
    if sample is None:
        break
    buf = sample.get_buffer()
    frames.append(bytes(buf.extract_dup(0, buf.get_size())))
decode.set_state(Gst.State.NULL)
assert frames, "no frames decoded"

Y = WIDTH * HEIGHT
C = (WIDTH // 2) * (HEIGHT // 2)


def with_clock(frame, ms):
    """The frame with `ms` drawn in its bottom band (grey chroma there: pure black and white)."""
    data = bytearray(frame)
    row = bytearray(b"\x10" * WIDTH)
    for bit in range(BITS):
        on = (ms >> (BITS - 1 - bit)) & 1
        x = 16 + bit * BLOCK
        row[x:x + BLOCK] = (b"\xeb" if on else b"\x10") * BLOCK
    for y in range(HEIGHT - BAND, HEIGHT):
        data[y * WIDTH:(y + 1) * WIDTH] = row
    half = WIDTH // 2
    for plane in (Y, Y + C):
        for y in range((HEIGHT - BAND) // 2, HEIGHT // 2):
            data[plane + y * half:plane + (y + 1) * half] = b"\x80" * half
    return bytes(data)


class Camera(GstRtspServer.RTSPMediaFactory):
    def do_create_element(self, url):
        return Gst.parse_launch(
            "appsrc name=src is-live=true format=time do-timestamp=true "
            f"caps=video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1 ! "
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=3000 ! "
            "rtph264pay name=pay0 pt=96 config-interval=1"
        )

    def do_configure(self, media):
        src = media.get_element().get_child_by_name("src")
        state = {"n": 0, "done": False}
        media.connect("unprepared", lambda _: state.update(done=True))

        def push():
            if state["done"]:
                return False
            frame = frames[state["n"] % len(frames)]
            state["n"] += 1
            ms = int(time.time() * 1000) % (1 << BITS)
            src.emit("push-buffer", Gst.Buffer.new_wrapped(with_clock(frame, ms)))
            return True

        GLib.timeout_add(1000 // FPS, push)


server = GstRtspServer.RTSPServer()
server.set_service(port)
factory = Camera()
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
