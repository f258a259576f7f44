export * from "./FieldDefinition"
export * from "./Outputs"
export * from "./TurnEvent"
