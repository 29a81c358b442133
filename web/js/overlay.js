// Detection boxes drawn on a canvas laid over the picture. Boxes are in the video's pixels;
// the picture is shown with `object-fit: contain`, so they are mapped into its letterboxed area.

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{width: number, height: number}} video the video's size in pixels
 * @param {Array<{box: number[], score: number}> | null} detections null clears the canvas
 */
export function drawBoxes(canvas, video, detections) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr);
  const h = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, w, h);
  canvas.dataset.boxes = detections ? String(detections.length) : '';
  if (!detections || !w || !h) return;
  const scale = Math.min(w / video.width, h / video.height);
  const ox = (w - video.width * scale) / 2;
  const oy = (h - video.height * scale) / 2;
  g.lineWidth = Math.max(1.5, 2 * dpr);
  g.font = `${Math.round(11 * dpr)}px system-ui, sans-serif`;
  for (const d of detections) {
    const [x1, y1, x2, y2] = d.box;
    const x = ox + x1 * scale;
    const y = oy + y1 * scale;
    g.strokeStyle = '#5ec878';
    g.strokeRect(x, y, (x2 - x1) * scale, (y2 - y1) * scale);
    const label = d.score.toFixed(2);
    g.fillStyle = 'rgba(0, 0, 0, 0.6)';
    g.fillRect(x, y - 14 * dpr, g.measureText(label).width + 6 * dpr, 14 * dpr);
    g.fillStyle = '#fff';
    g.fillText(label, x + 3 * dpr, y - 3 * dpr);
  }
}
