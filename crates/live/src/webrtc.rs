//! WebRTC viewers of a stream (the server side of WHEP): its frames, with their boxes and count
//! drawn in as in the JPEGs, encoded once to H.264 and sent to every WebRTC viewer by its own
//! `webrtcbin`.
//!
//! `appsrc ! videoconvert ! encoder ! h264 constrained baseline ! tee`, and per viewer
//! `queue ! rtph264pay ! webrtcbin`. The encoder runs only while somebody watches: the pipeline
//! is made for the first viewer and stopped after the last. The capture thread hands it each
//! frame (`appsrc` keeps at most two and drops the oldest, so a slow encoder never holds up
//! capture), and a viewer's queue drops rather than grows when its link cannot keep up. The
//! count is drawn into the picture, so it follows the frames exactly in every WebRTC client,
//! browsers or not. (A camera's own H.264 is not passed through: it has no boxes or count in
//! it, and the capture rate, not the camera's, is what the count follows.)
//!
//! Signalling is WHEP's, without trickle: an SDP offer in, an SDP answer with every local ICE
//! candidate out, once gathering ends. A session ends when the viewer hangs up, when its
//! connection fails or closes, or when it has sent no RTCP for 15 s (a viewer that vanished).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use pigweight_decode::Encoder;
use pigweight_decode::Frame;
use pigweight_inference::Detection;
use pigweight_render::draw_overlay;

use crate::error::LiveError;
use crate::viewer::ViewerStats;

/// How WebRTC viewers are served.
#[derive(Debug, Clone, PartialEq)]
pub struct WebRtcSettings {
    /// The H.264 encoder (x264 or NVENC, chosen at start); `None` when neither is installed,
    /// and WebRTC is then refused.
    pub encoder: Option<Encoder>,
    /// Target bitrate of the shared encoding, kbit/s.
    pub kbps: u32,
    /// Most WebRTC viewers of one stream at once.
    pub max_viewers: usize,
    /// Longest wait for the local ICE candidates before the answer goes out with those found.
    pub gather_timeout: Duration,
}

impl Default for WebRtcSettings {
    fn default() -> Self {
        Self {
            encoder: None,
            kbps: 2500,
            max_viewers: 16,
            gather_timeout: Duration::from_secs(3),
        }
    }
}

/// The answer to a viewer's offer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Names the session, to hang it up.
    pub session: String,
    pub sdp: String,
}

/// The shared encoding of one stream and its WebRTC viewers.
#[derive(Debug)]
pub(crate) struct Broadcast {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    tee: gst::Element,
    sessions: Mutex<HashMap<String, Session>>,
    /// The frame size the source's caps say now.
    size: Mutex<Option<(u32, u32)>>,
    fps: u32,
    pub(crate) failed: Arc<AtomicBool>,
    /// Offers being answered: their sessions are not in `sessions` yet, and the encoding must
    /// not stop under them.
    pub(crate) pending: AtomicUsize,
}

#[derive(Debug)]
struct Session {
    tee_pad: gst::Pad,
    elements: Vec<gst::Element>,
    /// Set when the connection failed or closed: swept with the next frame.
    ended: Arc<AtomicBool>,
    /// When the viewer last sent RTCP (its receiver reports and feedback, every second or so),
    /// in milliseconds since `since`: a viewer that vanished without hanging up goes quiet.
    heard_ms: Arc<AtomicU64>,
    since: Instant,
    viewer: u64,
}

fn make(factory: &str) -> Result<gst::Element, LiveError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| LiveError::WebRtc(format!("GStreamer element `{factory}` is not installed")))
}

fn failed(what: &str) -> impl FnOnce(gst::glib::BoolError) -> LiveError + '_ {
    move |e| LiveError::WebRtc(format!("{what}: {e}"))
}

impl Broadcast {
    /// The shared encoding, playing, with no viewers yet.
    pub(crate) fn start(live_id: &str, fps: u32, settings: &WebRtcSettings) -> Result<Self, LiveError> {
        gst::init().map_err(|e| LiveError::WebRtc(format!("GStreamer: {e}")))?;
        let encoder = settings.encoder.ok_or_else(|| {
            LiveError::WebRtc("no H.264 encoder (x264enc or nvh264enc) is installed".into())
        })?;
        let fps = fps.max(1);
        let pipeline = gst::Pipeline::with_name(&format!("webrtc-{live_id}"));
        let src = gst_app::AppSrc::builder()
            .format(gst::Format::Time)
            .is_live(true)
            .do_timestamp(true)
            .max_buffers(2)
            .leaky_type(gst_app::AppLeakyType::Downstream)
            .build();
        let convert = make("videoconvert")?;
        let encode = encoder
            .live(settings.kbps, fps * 2)
            .map_err(|e| LiveError::WebRtc(format!("making the encoder: {e}")))?;
        let profile = make("capsfilter")?;
        // What every browser decodes: constrained baseline, whole access units.
        profile.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("profile", "constrained-baseline")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        );
        let tee = make("tee")?;
        tee.set_property("allow-not-linked", true);
        pipeline
            .add_many([src.upcast_ref(), &convert, &encode, &profile, &tee])
            .map_err(failed("building the WebRTC pipeline"))?;
        gst::Element::link_many([src.upcast_ref(), &convert, &encode, &profile, &tee])
            .map_err(failed("linking the WebRTC pipeline"))?;
        let failed_flag = Arc::new(AtomicBool::new(false));
        if let Some(bus) = pipeline.bus() {
            let flag = Arc::clone(&failed_flag);
            let id = live_id.to_owned();
            // Nothing else reads this bus: errors are logged here and every message dropped.
            bus.set_sync_handler(move |_, message| {
                if let gst::MessageView::Error(e) = message.view()
                    && !flag.swap(true, Ordering::Relaxed)
                {
                    tracing::error!(stream = %id, error = %e.error(), debug = ?e.debug(), "WebRTC encoding failed");
                }
                gst::BusSyncReply::Drop
            });
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| LiveError::WebRtc(format!("starting the WebRTC pipeline: {e}")))?;
        tracing::info!(stream = %live_id, encoder = encoder.element(), kbps = settings.kbps, "WebRTC encoding started");
        Ok(Self {
            pipeline,
            src,
            tee,
            sessions: Mutex::new(HashMap::new()),
            size: Mutex::new(None),
            fps,
            failed: failed_flag,
            pending: AtomicUsize::new(0),
        })
    }

    /// Hands the encoder one frame, with its boxes and count drawn in.
    pub(crate) fn push(&self, f: &Frame, boxes: &[Detection], count: u32) {
        {
            let mut size = self.size.lock().unwrap_or_else(PoisonError::into_inner);
            if *size != Some((f.width, f.height)) {
                let caps = gst_video::VideoCapsBuilder::new()
                    .format(gst_video::VideoFormat::Rgb)
                    .width(f.width as i32)
                    .height(f.height as i32)
                    .framerate(gst::Fraction::new(self.fps as i32, 1))
                    .build();
                self.src.set_caps(Some(&caps));
                *size = Some((f.width, f.height));
            }
        }
        let mut rgb = f.data.clone();
        draw_overlay(
            &mut rgb,
            f.width,
            f.height,
            boxes.iter().map(|d| d.bbox),
            (1.0, 1.0),
            &count.to_string(),
        );
        // A full queue drops its oldest frame; a flushing or stopped source refuses: neither
        // holds up capture.
        let _ = self.src.push_buffer(gst::Buffer::from_mut_slice(rgb));
    }

    pub(crate) fn viewers(&self) -> usize {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// A new viewer's branch, answering its offer; the viewer's figures are `viewer`, listed
    /// by the stream under `key`.
    pub(crate) fn answer(
        &self,
        stream: &str,
        offer: &str,
        settings: &WebRtcSettings,
        (key, viewer): (u64, Arc<ViewerStats>),
    ) -> Result<Answer, LiveError> {
        let parsed = gst_sdp::SDPMessage::parse_buffer(offer.as_bytes())
            .map_err(|_| LiveError::BadOffer("the body is not an SDP offer".into()))?;
        let pt = h264_payload(&parsed)?;
        let queue = make("queue")?;
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", gst::ClockTime::from_mseconds(500).nseconds());
        let pay = make("rtph264pay")?;
        pay.set_property("pt", pt);
        pay.set_property("config-interval", -1i32);
        pay.set_property_from_str("aggregate-mode", "zero-latency");
        let webrtc = make("webrtcbin")?;
        webrtc.set_property_from_str("bundle-policy", "max-bundle");
        let elements = vec![queue.clone(), pay.clone(), webrtc.clone()];
        self.pipeline
            .add_many(&elements)
            .map_err(failed("adding a WebRTC viewer"))?;
        let branch = Branch {
            pipeline: &self.pipeline,
            elements: Some(elements),
        };
        queue.link(&pay).map_err(failed("linking a WebRTC viewer"))?;
        let sink = webrtc
            .request_pad_simple("sink_%u")
            .ok_or_else(|| LiveError::WebRtc("webrtcbin gave no sink pad".into()))?;
        pay.static_pad("src")
            .ok_or_else(|| LiveError::WebRtc("rtph264pay has no source pad".into()))?
            .link(&sink)
            .map_err(|e| LiveError::WebRtc(format!("linking the payloader to webrtcbin: {e:?}")))?;
        let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
        transceiver.set_property("direction", gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
        transceiver.set_property(
            "codec-preferences",
            gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("encoding-name", "H264")
                .field("clock-rate", 90_000i32)
                .field("payload", pt as i32)
                .field("packetization-mode", "1")
                .field("profile-level-id", "42e01f")
                .build(),
        );

        let (gathered_tx, gathered) = mpsc::channel::<()>();
        let gathered_tx = Mutex::new(Some(gathered_tx));
        webrtc.connect_notify(Some("ice-gathering-state"), move |w, _| {
            let state = w.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state");
            if state == gst_webrtc::WebRTCICEGatheringState::Complete {
                gathered_tx.lock().unwrap_or_else(PoisonError::into_inner).take();
            }
        });
        let candidates = Arc::new(Mutex::new(Vec::<(u32, String)>::new()));
        {
            let candidates = Arc::clone(&candidates);
            webrtc.connect("on-ice-candidate", false, move |values| {
                let mline = values.get(1).and_then(|v| v.get::<u32>().ok());
                let candidate = values.get(2).and_then(|v| v.get::<String>().ok());
                if let (Some(mline), Some(candidate)) = (mline, candidate) {
                    candidates
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((mline, candidate));
                }
                None
            });
        }
        let since = Instant::now();
        let heard_ms = Arc::new(AtomicU64::new(0));
        {
            // rtpbin (inside webrtcbin) says when RTCP arrives from the viewer.
            let rtpbin = webrtc.downcast_ref::<gst::Bin>().and_then(|bin| {
                bin.iterate_recurse()
                    .into_iter()
                    .flatten()
                    .find(|e| e.factory().is_some_and(|f| f.name() == "rtpbin"))
            });
            let Some(rtpbin) = rtpbin else {
                return Err(LiveError::WebRtc("webrtcbin has no rtpbin".into()));
            };
            let heard_ms = Arc::clone(&heard_ms);
            rtpbin.connect("on-ssrc-active", false, move |_| {
                heard_ms.store(since.elapsed().as_millis() as u64, Ordering::Relaxed);
                None
            });
        }
        let ended = Arc::new(AtomicBool::new(false));
        {
            let ended = Arc::clone(&ended);
            let stream = stream.to_owned();
            webrtc.connect_notify(Some("connection-state"), move |w, _| {
                use gst_webrtc::WebRTCPeerConnectionState as State;
                let state = w.property::<State>("connection-state");
                tracing::debug!(%stream, ?state, "WebRTC viewer's connection");
                if matches!(state, State::Failed | State::Closed) && !ended.swap(true, Ordering::Relaxed) {
                    tracing::info!(%stream, ?state, "WebRTC viewer gone");
                }
            });
        }

        let tee_pad = self
            .tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| LiveError::WebRtc("the tee gave no pad".into()))?;
        let queue_sink = queue
            .static_pad("sink")
            .ok_or_else(|| LiveError::WebRtc("queue has no sink pad".into()))?;
        if let Err(e) = tee_pad.link(&queue_sink) {
            self.tee.release_request_pad(&tee_pad);
            return Err(LiveError::WebRtc(format!("linking a WebRTC viewer: {e:?}")));
        }
        let result = (|| {
            {
                // What goes to this viewer: one buffer per encoded frame.
                let viewer = Arc::clone(&viewer);
                queue
                    .static_pad("src")
                    .ok_or_else(|| LiveError::WebRtc("queue has no source pad".into()))?
                    .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                        if let Some(buffer) = info.buffer() {
                            viewer.sent(buffer.size(), 0);
                        }
                        gst::PadProbeReturn::Ok
                    });
            }
            for element in branch.elements.iter().flatten() {
                element
                    .sync_state_with_parent()
                    .map_err(failed("starting a WebRTC viewer"))?;
            }
            let offer = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, parsed);
            signal(&webrtc, "set-remote-description", Some(&offer))?;
            let reply = signal(&webrtc, "create-answer", None)?
                .ok_or_else(|| LiveError::WebRtc("webrtcbin made no answer".into()))?;
            let answer = reply
                .get::<gst_webrtc::WebRTCSessionDescription>("answer")
                .map_err(|_| LiveError::WebRtc(format!("webrtcbin made no answer: {reply}")))?;
            signal(&webrtc, "set-local-description", Some(&answer))?;
            // Every local candidate goes in the answer (no trickle): wait for gathering.
            let _ = gathered.recv_timeout(settings.gather_timeout);
            let local = webrtc
                .property::<Option<gst_webrtc::WebRTCSessionDescription>>("local-description")
                .unwrap_or(answer);
            let found = candidates.lock().unwrap_or_else(PoisonError::into_inner).clone();
            with_candidates(local.sdp(), &found)
        })();
        let sdp = match result {
            Ok(sdp) => sdp,
            Err(e) => {
                self.tee.release_request_pad(&tee_pad);
                return Err(e);
            }
        };
        // The first frame this viewer gets is a keyframe (with its parameter sets).
        queue_sink.push_event(
            gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build(),
        );
        let id = session_id();
        let session = Session {
            tee_pad,
            elements: branch.keep(),
            ended,
            heard_ms,
            since,
            viewer: key,
        };
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), session);
        Ok(Answer { session: id, sdp })
    }

    /// Ends a session; the key of its viewer, `None` when there is none of that name.
    pub(crate) fn hang_up(&self, id: &str) -> Option<u64> {
        let session = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)?;
        Some(self.remove(session))
    }

    /// Ends the sessions whose connection failed or closed; their viewers' keys.
    pub(crate) fn sweep(&self) -> Vec<u64> {
        let ended: Vec<Session> = {
            let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
            let gone: Vec<String> = sessions
                .iter()
                .filter(|(_, s)| s.ended.load(Ordering::Relaxed) || s.quiet())
                .map(|(id, _)| id.clone())
                .collect();
            gone.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        ended.into_iter().map(|s| self.remove(s)).collect()
    }

    fn remove(&self, session: Session) -> u64 {
        // Releasing the tee's pad waits for a push in progress on it, then unlinks it.
        self.tee.release_request_pad(&session.tee_pad);
        drop(Branch {
            pipeline: &self.pipeline,
            elements: Some(session.elements),
        });
        session.viewer
    }

    /// Stops the encoding and every session; their viewers' keys.
    pub(crate) fn stop(&self) -> Vec<u64> {
        let all: Vec<u64> = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, s)| s.viewer)
            .collect();
        let _ = self.pipeline.set_state(gst::State::Null);
        all
    }
}

impl Session {
    /// Whether the viewer has sent no RTCP for [`QUIET`] (after a first [`QUIET`] to connect).
    fn quiet(&self) -> bool {
        let now = self.since.elapsed();
        let heard = Duration::from_millis(self.heard_ms.load(Ordering::Relaxed));
        now > QUIET && now - heard > QUIET
    }
}

/// A viewer that sends no RTCP for this long is gone (a closed tab, a lost network) and its
/// session ends, though it never hung up.
const QUIET: Duration = Duration::from_secs(15);

/// A viewer's elements in the pipeline: taken out again unless kept.
struct Branch<'a> {
    pipeline: &'a gst::Pipeline,
    elements: Option<Vec<gst::Element>>,
}

impl Branch<'_> {
    fn keep(mut self) -> Vec<gst::Element> {
        self.elements.take().unwrap_or_default()
    }
}

impl Drop for Branch<'_> {
    fn drop(&mut self) {
        if let Some(elements) = self.elements.take() {
            for element in &elements {
                let _ = element.set_state(gst::State::Null);
            }
            let _ = self.pipeline.remove_many(&elements);
        }
    }
}

/// Emits a webrtcbin action signal that takes (maybe) a description and a promise; returns the
/// promise's reply once it is answered.
fn signal(
    webrtc: &gst::Element,
    name: &str,
    description: Option<&gst_webrtc::WebRTCSessionDescription>,
) -> Result<Option<gst::Structure>, LiveError> {
    let promise = gst::Promise::new();
    match description {
        Some(d) => webrtc.emit_by_name::<()>(name, &[d, &promise]),
        None => webrtc.emit_by_name::<()>(name, &[&None::<gst::Structure>, &promise]),
    }
    match promise.wait() {
        gst::PromiseResult::Replied => {}
        other => return Err(LiveError::WebRtc(format!("webrtcbin {name}: {other:?}"))),
    }
    let reply = promise.get_reply().map(|r| r.to_owned());
    if let Some(r) = &reply
        && let Ok(error) = r.get::<gst::glib::Error>("error")
    {
        return Err(LiveError::BadOffer(format!("{name}: {}", error.message())));
    }
    Ok(reply)
}

/// The payload type the offer gives H.264 that every browser sends and takes: packetization
/// mode 1, constrained baseline (`42e0..`) first, then any baseline, then any H.264.
fn h264_payload(offer: &gst_sdp::SDPMessageRef) -> Result<u32, LiveError> {
    let mut best: Option<(u8, u32)> = None;
    let mut video = false;
    for media in offer.medias() {
        if media.media() != Some("video") {
            continue;
        }
        video = true;
        let mut fmtp: HashMap<u32, String> = HashMap::new();
        for a in media.attributes() {
            if a.key() == "fmtp"
                && let Some((pt, params)) = a.value().and_then(|v| v.split_once(' '))
                && let Ok(pt) = pt.parse()
            {
                fmtp.insert(pt, params.to_ascii_lowercase());
            }
        }
        for a in media.attributes() {
            let Some((pt, codec)) = a.value().and_then(|v| v.split_once(' ')) else {
                continue;
            };
            let Ok(pt) = pt.parse::<u32>() else { continue };
            if a.key() != "rtpmap" || !codec.to_ascii_uppercase().starts_with("H264/90000") {
                continue;
            }
            let params = fmtp.get(&pt).map_or("", String::as_str);
            if !params.contains("packetization-mode=1") {
                continue;
            }
            let rank = if params.contains("profile-level-id=42e0") {
                0
            } else if params.contains("profile-level-id=42") {
                1
            } else {
                2
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, pt));
            }
        }
        // One video stream is all a viewer gets.
        break;
    }
    match best {
        Some((_, pt)) => Ok(pt),
        None if !video => Err(LiveError::BadOffer("the offer has no video".into())),
        None => Err(LiveError::BadOffer(
            "the offer's video takes no H.264 in packetization mode 1".into(),
        )),
    }
}

/// The answer's text with the gathered candidates in it, where webrtcbin did not add them.
fn with_candidates(sdp: &gst_sdp::SDPMessageRef, found: &[(u32, String)]) -> Result<String, LiveError> {
    let text = sdp
        .as_text()
        .map_err(|e| LiveError::WebRtc(format!("writing the answer: {e}")))?;
    if text.contains("a=candidate:") || found.is_empty() {
        return Ok(text);
    }
    let mut sdp = sdp.to_owned();
    let medias = sdp.medias_len();
    for index in 0..medias {
        let Some(media) = sdp.media_mut(index) else {
            continue;
        };
        let mut added = false;
        for (_, c) in found.iter().filter(|(m, _)| *m == index) {
            media.add_attribute("candidate", Some(c.strip_prefix("candidate:").unwrap_or(c)));
            added = true;
        }
        if added {
            media.add_attribute("end-of-candidates", None);
        }
    }
    sdp.as_text()
        .map_err(|e| LiveError::WebRtc(format!("writing the answer: {e}")))
}

fn session_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(text: &str) -> gst_sdp::SDPMessage {
        gst::init().unwrap();
        gst_sdp::SDPMessage::parse_buffer(text.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    const HEAD: &str = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n";

    #[test]
    fn the_offers_constrained_baseline_h264_is_chosen() {
        let offer = sdp(&format!(
            "{HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96 102 108 127\n\
             a=rtpmap:96 VP8/90000\n\
             a=rtpmap:102 H264/90000\n\
             a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\n\
             a=rtpmap:108 H264/90000\n\
             a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f\n\
             a=rtpmap:127 H264/90000\n\
             a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\n"
        ));
        assert_eq!(h264_payload(&offer).unwrap(), 127);
    }

    #[test]
    fn offers_without_usable_h264_are_refused() {
        let vp8 = sdp(&format!(
            "{HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\na=rtpmap:96 VP8/90000\n"
        ));
        assert!(matches!(h264_payload(&vp8), Err(LiveError::BadOffer(m)) if m.contains("H.264")));
        let audio = sdp(&format!(
            "{HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\n"
        ));
        assert!(matches!(h264_payload(&audio), Err(LiveError::BadOffer(m)) if m.contains("no video")));
    }
}
