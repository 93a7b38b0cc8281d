import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 5 9h4v6h6V9h4z"/>
    <rect x="4" y="17" width="16" height="2.5" rx="1"/>
    <rect x="7" y="20.5" width="10" height="1.5" rx="0.75"/>
  </g>
</svg>`;

export const nbliftIcon = new LabIcon({ name: 'nblift:lift', svgstr: svg });
