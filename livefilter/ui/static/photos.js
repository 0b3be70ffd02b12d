// Photos view: drop photos, original and hidden side by side, add or remove a
// region, download the hidden copy (no metadata).
"use strict";

(() => {
  const { $, post, url, say, drawBoxes, dragBox } = LF;
  let version = 0;

  async function upload(files) {
    for (const file of files) {
      say(`hiding faces in ${file.name}…`);
      try {
        const photo = await post("/api/photos/upload", file, { "X-Filename": file.name });
        render(photo);
        say("");
      } catch (e) { /* said */ }
    }
  }

  $("photo-input").addEventListener("change", (e) => upload([...e.target.files]));
  const drop = $("photo-drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    upload([...e.dataTransfer.files]);
  });

  function render(photo) {
    version += 1;
    let card = document.getElementById(`photo-${photo.key}`);
    if (!card) {
      card = document.createElement("div");
      card.id = `photo-${photo.key}`;
      card.className = "panel photo";
      card.innerHTML = `
        <figure><img class="original" alt="original"><canvas></canvas>
          <figcaption>original: drag to hide more, click a region to un-hide it</figcaption></figure>
        <figure><img class="hidden" alt="hidden">
          <figcaption>hidden — <a class="download">download</a></figcaption></figure>`;
      $("photo-list").appendChild(card);
    }
    const original = card.querySelector("img.original");
    // A fresh canvas: its listeners are bound to this description of the photo.
    const canvas = card.querySelector("canvas").cloneNode(false);
    card.querySelector("canvas").replaceWith(canvas);
    let scale = 1;
    const redraw = () => {
      const boxes = photo.faces.map((box, i) => ({
        box, shape: "ellipse", color: photo.removed.includes(i) ? "#ff4d4d" : "#3d8bfd",
        dashed: photo.removed.includes(i) }));
      for (const box of photo.added) boxes.push({ box, shape: "ellipse", color: "#4dff88" });
      scale = drawBoxes(canvas, original, photo.width, boxes);
    };
    original.onload = redraw;
    original.src = url(`/api/photos/${photo.key}/original`);
    card.querySelector("img.hidden").src = url(`/api/photos/${photo.key}/hidden`,
                                               { v: String(version) });
    const link = card.querySelector("a.download");
    link.href = url(`/api/photos/${photo.key}/download`);
    link.setAttribute("download", photo.name);
    dragBox(canvas, () => scale, async (box) => {
      let change;
      if (box[2] - box[0] < 4 || box[3] - box[1] < 4) {
        const [x, y] = box;
        const inside = (b) => b[0] <= x && x <= b[2] && b[1] <= y && y <= b[3];
        const added = photo.added.findIndex(inside);
        const face = photo.faces.findIndex(inside);
        if (added >= 0) change = { drop: added };
        else if (face >= 0) change = photo.removed.includes(face) ? { restore: face } : { remove: face };
        else return;
      } else {
        change = { add: box };
      }
      try { render(await post(`/api/photos/${photo.key}/edit`, change)); } catch (e) { /* said */ }
    });
    if (original.complete) redraw();
  }
})();
