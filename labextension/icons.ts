import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 5 9h4v6h6V9h4z"/>
    <rect x="4" y="17" width="16" height="2.5" rx="1"/>
    <rect x="7" y="20.5" width="10" height="1.5" rx="0.75"/>
  </g>
</svg>`;

export const nbliftIcon = new LabIcon({ name: 'nblift:lift', svgstr: svg });

const runOnSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 4.5v15l11-7.5z"/>
    <path d="M19 3l-4 4.5h2.5V13h3V7.5H23z"/>
  </g>
</svg>`;

/** Run a notebook elsewhere: a play mark with an arrow going up and away. */
export const runOnIcon = new LabIcon({
  name: 'nblift:run-on',
  svgstr: runOnSvg
});
