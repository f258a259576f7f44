export * from "./FieldDefinition"
export * from "./Outputs"
export * from "./ScenarioRequirement"
export * from "./TurnEvent"
