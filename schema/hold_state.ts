// The states of a hold, as the engine keeps them, the projection stores them (holds.state) and
// reconcile compares them: one vocabulary for every side. Values are stored: never renumber one.

export const HoldState = { free: 0, open: 1, captured: 2, released: 3, expired: 4 } as const;
export type HoldState = (typeof HoldState)[keyof typeof HoldState];
