# The test set lists its classes in another order; they are mapped onto the training order.
@problemName Ragged
@timeStamps false
@missing true
@univariate false
@dimensions 3
@equalLength false
@classLabel true down up
@data
3,2,1,0,?,1:1,1,1,1,1,1:0,0,0,0,0,0:down
?,4,5:6,?,8:9,10,?:up
