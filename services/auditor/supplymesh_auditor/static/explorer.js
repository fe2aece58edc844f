// The copy buttons beside full hashes and ids: copy the value, tick the button.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const value = button.dataset.copy || "";
  const done = () => {
    button.classList.add("done");
    setTimeout(() => button.classList.remove("done"), 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(value).then(done, () => fallback(value, done));
  } else {
    fallback(value, done);
  }
});

function fallback(value, done) {
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try {
    document.execCommand("copy");
    done();
  } finally {
    area.remove();
  }
}
