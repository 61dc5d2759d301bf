// waitlist-site: small enhancements of the public pages, which work without this file.
"use strict";

// After a failed submit the error summary takes the focus, so a screen reader reads it and a
// keyboard starts from it; its links move the focus to the field in error, label in view.
function focusErrorSummary() {
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) {
    return;
  }
  summary.focus();
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    const field = link && document.getElementById(link.hash.slice(1));
    if (!field) {
      return;
    }
    event.preventDefault();
    const label = document.querySelector(`label[for="${CSS.escape(field.id)}"]`);
    (label || field).scrollIntoView({ block: "start" });
    field.focus({ preventScroll: true });
  });
}

// The thanks page: a Share button where the browser can share, a Copy link button where it can
// copy; the link and the "Email a friend" button work everywhere.
function enableSharing() {
  const share = document.querySelector("[data-share]");
  if (!share) {
    return;
  }
  const { shareUrl: url, shareTitle: title, shareText: text } = share.dataset;
  const status = document.querySelector("[data-share-status]");
  const shareButton = share.querySelector("[data-share-button]");
  const copyButton = share.querySelector("[data-copy-button]");

  if (typeof navigator.share === "function") {
    shareButton.hidden = false;
    shareButton.addEventListener("click", () => {
      // A fan who closes the share sheet is not an error worth telling.
      navigator.share({ title, text, url }).catch(() => {});
    });
  }
  if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
    copyButton.hidden = false;
    copyButton.addEventListener("click", () => {
      navigator.clipboard.writeText(url).then(
        () => { status.textContent = "Link copied. Paste it anywhere to share it."; },
        () => { status.textContent = "Could not copy: the link is shown above."; },
      );
    });
  }
}

focusErrorSummary();
enableSharing();
