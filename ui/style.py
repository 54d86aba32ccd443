"""The page's CSS: answers, citation links, passage cards, the working indicator."""

CSS = """
.rag-cite { font-weight: 600; text-decoration: none; color: var(--color-accent); }
.rag-cite:hover { text-decoration: underline; }
.rag-refused { border-left: 3px solid var(--neutral-400); padding-left: 0.6em; }
.rag-draft { color: var(--body-text-color-subdued); }
.rag-draft:not(.rag-stopped)::after { content: "▍"; animation: rag-blink 1s steps(2) infinite; }
.rag-note { font-size: 0.85em; margin-top: 0.4em; font-style: italic; }
.rag-error { color: var(--error-text-color); }
.rag-working { color: var(--body-text-color-subdued); font-style: italic; }
.rag-dots::before { content: "●"; display: inline-block; animation: rag-pulse 1s ease-in-out infinite; }
@keyframes rag-pulse { 0%, 100% { opacity: 0.2; } 50% { opacity: 1; } }
@keyframes rag-blink { 50% { opacity: 0; } }
#rag-sources { max-height: 640px; overflow-y: auto !important; }  /* gradio sets overflow inline */
.rag-turn { margin-bottom: 1.2em; padding-bottom: 0.6em; border-bottom: 1px solid var(--border-color-primary); }
.rag-turn h4 { margin: 0.6em 0 0.3em; font-size: 0.95em; }
.rag-q { font-weight: 600; }
.rag-draft { white-space: pre-wrap; }
.rag-answer p { margin: 0; }
.rag-timing { font-size: 0.8em; color: var(--body-text-color-subdued); }
.rag-query { font-size: 0.9em; color: var(--body-text-color-subdued); }
.rag-passage { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 0.5em 0.7em;
               margin: 0.4em 0; scroll-margin-top: 1em; }
.rag-passage:target { outline: 2px solid var(--color-accent); }
.rag-passage header { font-size: 0.9em; margin-bottom: 0.3em; }
.rag-passage p { margin: 0; font-size: 0.92em; white-space: pre-wrap; }
.rag-passage mark { background: #fde68a; color: inherit; padding: 0 1px; }
.rag-n { font-weight: 600; }
.rag-title { font-weight: 600; }
.rag-file { color: var(--body-text-color-subdued); font-family: var(--font-mono); font-size: 0.85em; }
.rag-others summary { cursor: pointer; color: var(--body-text-color-subdued); }
.rag-docs { width: 100%; font-size: 0.9em; }
.rag-docs td, .rag-docs th { padding: 0.2em 0.5em; text-align: left; }
.rag-num { text-align: right; }
.rag-empty { color: var(--body-text-color-subdued); }
.rag-pdf-page summary, .rag-also { cursor: pointer; color: var(--body-text-color-subdued); font-size: 0.85em; }
.rag-pdf-page img { width: 100%; height: auto; border: 1px solid var(--border-color-primary); margin-top: 0.3em; }
"""
