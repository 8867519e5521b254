export interface View {
  element: HTMLElement;
  title: string;
  dispose(): void;
  /** the live connection came back after a loss */
  reconnected?(): void;
}
