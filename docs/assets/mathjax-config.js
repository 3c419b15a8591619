// MathJax 2 (served from this site, assets/mathjax) reads the \( \) and \[ \] that pymdownx.arithmatex writes.
window.MathJax = {
  tex2jax: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true },
  showMathMenu: false,
  messageStyle: "none",
};
