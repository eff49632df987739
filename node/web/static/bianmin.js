/* bianmin pages: small progressive enhancements, ES5 for old browsers; every page works
   without them. */
(function () {
  function each(selector, fn) {
    var found = document.querySelectorAll(selector);
    for (var i = 0; i < found.length; i++) { fn(found[i]); }
  }
  function ready() {
    each("[data-print]", function (el) {
      el.addEventListener("click", function (e) { e.preventDefault(); window.print(); });
    });
    each("form[data-confirm]", function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
    each("[data-autoprint]", function () { window.print(); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else { ready(); }
})();
